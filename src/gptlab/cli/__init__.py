"""Command-line interface: thin Typer commands over the library functions.

Each module in this package registers the commands of one stage on the shared `app`.
`main()` turns a GptlabError, or a failed file operation (OSError: a file in the way, no
permission, a full disk), into one paragraph on stderr and exit code 2, and shows the
traceback only with `--debug`.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

import click
import typer
from rich.markup import escape

from gptlab.cli.app import app, err_console, state
from gptlab.errors import GptlabError

__all__ = ["app", "main"]

# typer >= 0.29 vendors its own copy of click: catch its exceptions as well as click's.
_click_copies = [click]
try:
    from typer import _click as typer_click

    _click_copies.append(typer_click)
except ImportError:  # typer < 0.29 uses click itself
    pass
_USAGE_ERRORS = tuple(c.ClickException for c in _click_copies)
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full Python traceback when a command fails."
    ),
) -> None:
    state.debug = debug or bool(os.environ.get("GPTLAB_DEBUG"))


def _register() -> None:
    """Import every command module of this package; each adds its commands to `app`."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "app":
            importlib.import_module(f"{__name__}.{info.name}")


_register()


_OS_ERROR_FIXES = {
    errno.EEXIST: "something is already there (often a file where a folder is needed): "
    "choose another path or move it away",
    errno.ENOTDIR: "part of the path is a file where a folder is needed: choose another path",
    errno.EISDIR: "it is a folder where a file is expected: give a file",
    errno.ENOENT: "check the path",
    errno.EACCES: "you may not read or write it: fix its permissions or choose another path",
    errno.EPERM: "you may not read or write it: fix its permissions or choose another path",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.ENOSPC: "the disk is full: free some space or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another folder",
}


def describe_os_error(exc: OSError) -> str:
    """One paragraph for a failed file operation: what failed, on which path, and what to do."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc)
    fix = _OS_ERROR_FIXES.get(exc.errno or 0, "check the path and the disk, then try again")
    where = f" ({paths})" if paths else ""
    return f"A file operation failed: {reason}{where}. Fix: {fix}. Rerun with --debug for details."


def _replace_unprintable_output() -> None:
    """Print characters the terminal's encoding lacks as "?" instead of failing on them.

    Generated text and file names can hold any character; a C locale or
    PYTHONIOENCODING=ascii cannot show them all, and that is no reason to lose the output.
    """
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gptlab` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    _replace_unprintable_output()
    try:
        # Without standalone mode Typer returns a typer.Exit's code instead of raising it.
        rc = app(args=args, prog_name="gptlab", standalone_mode=False)
    except GptlabError as exc:
        if state.debug or "--debug" in args:
            traceback.print_exc()
        # The message is plain text: "[optim]" in it must not be read as Rich markup.
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except OSError as exc:
        # A path the user gave is of the wrong kind, unwritable or on a full disk: not a bug.
        if state.debug or "--debug" in args:
            traceback.print_exc()
        err_console.print(
            f"[bold red]error:[/] {escape(describe_os_error(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except _ABORTS:
        err_console.print("Interrupted.")
        return 130
    except _EXITS as exc:
        return int(getattr(exc, "exit_code", 1))
    except _USAGE_ERRORS as exc:
        exc.show()
        return int(getattr(exc, "exit_code", 2))
    return rc if isinstance(rc, int) else 0


def run() -> None:
    """Console-script wrapper: exit with main()'s code."""
    sys.exit(main())
