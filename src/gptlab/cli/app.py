"""The Typer application object and the helpers every command module shares."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="gptlab",
    help=(
        "Train GPT-2-style language models from scratch and see what was trained.\n\n"
        "Typical path: prepare -> analyze -> train -> eval / generate -> report / viz -> compare."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

console = Console()
"""Standard output: tables, results."""
err_console = Console(stderr=True)
"""Standard error: progress, warnings and error messages."""


class State:
    """Global flags set by the top-level callback."""

    debug: bool = False


state = State()
