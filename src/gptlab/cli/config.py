"""`gptlab config`: every field `--set` accepts, with its type, value and one-line doc, or the
resolved config of a preset (plus --config and --set) as TOML."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from gptlab.cli.app import app, console
from gptlab.cli.options import ConfigFile, Overrides
from gptlab.config import (
    Config,
    apply_overrides,
    config_to_toml,
    list_fields,
    load_config,
    preset_config,
)


def _shown(value: Any) -> str:
    """A value as it is written after --set (TOML syntax)."""
    return json.dumps(value, ensure_ascii=False)


@app.command("config")
def config_command(
    list_all: bool = typer.Option(
        False,
        "--list",
        "-l",
        help="List every field with its type, value and meaning (instead of TOML).",
        show_default=False,
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="Show the values of this preset (tiny, seed-14m, gpt2-124m, ...). Default: none "
        "(the built-in defaults).",
        show_default=False,
    ),
    config_file: ConfigFile = None,
    overrides: Overrides = None,
) -> None:
    """Show the settings a run takes: every `--set` field, or a resolved config as TOML.

    Values come from the defaults, a --preset, a --config file and --set, in that order, as in
    `gptlab train`; fields whose value differs from the built-in default are marked *. Training
    still fits a preset's warmup, intervals and micro batch to a shorter run (see `train --help`).

    [bold]Examples[/bold]

      gptlab config --list
      gptlab config --list --preset seed-14m
      gptlab config --preset tiny --set optim.lr=1e-3 > my_run.toml
    """
    overrides = overrides or []
    cfg = preset_config(preset) if preset else Config()
    if config_file is not None:
        cfg = load_config(config_file, cfg)
    cfg = apply_overrides(cfg, overrides)
    if not list_all:
        console.print(config_to_toml(cfg), end="", markup=False, highlight=False, soft_wrap=True)
        return
    defaults = {f.name: f.value for f in list_fields()}
    section = ""
    for info in list_fields(cfg):
        head = info.name.partition(".")[0]
        if head != section:
            section = head
            console.print(f"\n[bold]\\[{head}][/bold]", highlight=False)
        mark = " *" if info.value != defaults[info.name] else ""
        console.print(
            f"  {escape(info.name)} = {escape(_shown(info.value))}{mark}  [dim]({info.kind})[/dim]",
            highlight=False,
        )
        if info.doc:
            # Indented as a block, so a wrapped doc line stays under its field.
            console.print(Padding(Text(info.doc), (0, 0, 0, 6), expand=False))
