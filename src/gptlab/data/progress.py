"""Progress of a pass over a corpus (prepare, analyze): share of the input read, rate and ETA.

On a terminal it is a live rich bar on stderr; piped or in CI (no terminal) it is one plain line
every PLAIN_INTERVAL_S seconds, so a log shows that the work moves. The share read is counted in
UTF-8 bytes of the documents against the source's size when that is known (files, datasets on
disk), else in documents against the expected document count, else it is not shown.

Trade-off: document bytes leave out the separators and the whitespace stripped around documents,
so the share may end a little below 100% before the pass says it is done.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_INTERVAL_S = 5.0
"""Seconds between two plain progress lines when stderr is not a terminal."""


def format_bytes(count: float) -> str:
    """1,234,567 -> '1.2 MB' (decimal units, as file sizes are usually shown)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"


def format_duration(seconds: float) -> str:
    """62 -> '1m 02s', 3725 -> '1h 02m'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class CorpusProgress:
    """Progress of reading a corpus, by bytes when its size is known, else by documents.

    `phase(name)` starts a new pass (e.g. "training char tokenizer", then "encoding");
    `advance(documents, text_bytes, tokens)` adds what was read. Silent when not enabled.
    """

    def __init__(
        self,
        enabled: bool,
        command: str,
        total_bytes: int | None = None,
        total_documents: int | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.enabled = enabled
        self.command = command
        self.total_bytes = total_bytes or None
        self.total_documents = total_documents or None
        self._console = Console(file=stream or sys.stderr)
        self._live = enabled and self._console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None
        self._phase = ""
        self._reset()

    def _reset(self) -> None:
        self.documents = 0
        self.text_bytes = 0
        self.tokens = 0
        self._start_s = time.perf_counter()
        self._last_line_s = self._start_s

    def __enter__(self) -> CorpusProgress:
        if self._live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def fraction(self) -> float | None:
        """Share of the input read so far (0..1), None when the total is unknown."""
        if self.total_bytes:
            return min(1.0, self.text_bytes / self.total_bytes)
        if self.total_documents:
            return min(1.0, self.documents / self.total_documents)
        return None

    def phase(self, name: str, total_documents: int | None = None) -> None:
        """Start a pass named `name` (counts restart; the totals stay unless given)."""
        if total_documents is not None:
            self.total_documents = total_documents or None
        self._phase = name
        self._reset()
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            total = self.total_bytes or self.total_documents
            self._task = self._progress.add_task(
                f"{self.command} {name}", total=total, detail=self._detail()
            )

    def advance(self, documents: int, text_bytes: int, tokens: int = 0) -> None:
        """Add what was just read."""
        self.documents += documents
        self.text_bytes += text_bytes
        self.tokens += tokens
        if not self.enabled:
            return
        if self._progress is not None:
            done = self.text_bytes if self.total_bytes else self.documents
            self._progress.update(self._task, completed=done, detail=self._detail())
            return
        now = time.perf_counter()
        if now - self._last_line_s >= PLAIN_INTERVAL_S:
            self._last_line_s = now
            self._console.print(self.plain_line(now), highlight=False, soft_wrap=True)

    def plain_line(self, now: float | None = None) -> str:
        """'prepare encoding: 42% of 12.3 MB, 1,234 documents, 56,789 tokens, 3s, ETA 4s'."""
        elapsed_s = (now or time.perf_counter()) - self._start_s
        parts = [f"{self.command} {self._phase}:"]
        fraction = self.fraction
        if fraction is not None and self.total_bytes:
            parts.append(f"{fraction:.0%} of {format_bytes(self.total_bytes)},")
        elif fraction is not None:
            parts.append(f"{fraction:.0%} of {self.total_documents:,} documents,")
        parts.append(self._detail() + ",")
        parts.append(f"{format_duration(elapsed_s)} elapsed")
        if fraction is not None and fraction > 0:
            eta_s = elapsed_s * (1 - fraction) / fraction
            parts[-1] += f", ETA {format_duration(eta_s)}"
        return " ".join(parts)

    def _detail(self) -> str:
        detail = f"{self.documents:,} documents"
        if self.tokens:
            detail += f", {self.tokens:,} tokens"
        return detail
