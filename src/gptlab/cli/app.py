"""The Typer application object and the helpers every command module shares."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console


def reflow_help(text: str) -> str:
    """A docstring as help text: each paragraph's lines joined into one, so the terminal wraps
    it at its own width instead of breaking sentences where the source did. Paragraphs whose
    lines are all indented (examples, one command per line) keep their line breaks."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if len(lines) > 1 and all(line.startswith(" ") for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


class _ReflowingTyper(typer.Typer):
    """A Typer whose commands' docstrings are reflowed (Typer's rich mode keeps every source
    line break of a command's first paragraph in the command list)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        register = super().command(*args, **kwargs)

        def decorator(function: Any) -> Any:
            if function.__doc__:
                function.__doc__ = reflow_help(function.__doc__)
            return register(function)

        return decorator


app = _ReflowingTyper(
    name="gptlab",
    help=(
        "Train GPT-2-style language models from scratch and see what was trained.\n\n"
        "Typical path: prepare, analyze, train, then eval, generate, report, viz and "
        "compare. `gptlab COMMAND --help` shows each command's options and examples; "
        "`gptlab config --list` shows every setting a run takes."
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
