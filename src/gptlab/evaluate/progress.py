"""The progress bar of an evaluation: windows, or benchmark rows, scored so far.

A rich bar on stderr that disappears when done (transient), so that the results printed after it
stand alone. The trade-off: piped output shows no progress at all, which keeps logs clean but
says nothing during a long evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class EvalProgress:
    """A rich progress bar on stderr when enabled; yields advance(n)."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled = enabled
        self.description = description
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
