"""Tests for gptlab.data.progress: plain progress lines when the output is not a terminal."""

from __future__ import annotations

import io

import pytest

from gptlab.data import progress as progress_module
from gptlab.data.progress import CorpusProgress, format_bytes, format_duration


def test_piped_progress_prints_plain_lines_with_share_and_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL_S", 0.0)
    stream = io.StringIO()
    with CorpusProgress(True, "prepare", total_bytes=4_000_000, stream=stream) as bar:
        bar.phase("encoding")
        bar.advance(10, 1_000_000, 2_500)
    line = stream.getvalue().strip()
    assert line.startswith("prepare encoding: 25% of 4.0 MB, 10 documents, 2,500 tokens,")
    assert "elapsed, ETA" in line
    assert "\x1b" not in line  # no terminal codes in a log


def test_progress_by_documents_when_the_size_is_unknown() -> None:
    bar = CorpusProgress(False, "analyze", total_documents=200)
    bar.phase("train")
    bar.advance(50, 123)
    assert bar.fraction == 0.25
    assert "25% of 200 documents" in bar.plain_line()
    silent = CorpusProgress(False, "analyze")
    silent.phase("train")
    silent.advance(5, 10)
    assert silent.fraction is None and "ETA" not in silent.plain_line()


def test_disabled_progress_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL_S", 0.0)
    stream = io.StringIO()
    with CorpusProgress(False, "prepare", total_bytes=10, stream=stream) as bar:
        bar.phase("encoding")
        bar.advance(1, 5)
    assert stream.getvalue() == ""


def test_formats() -> None:
    assert format_bytes(999) == "999 B"
    assert format_bytes(1_234_567) == "1.2 MB"
    assert format_duration(62) == "1m 02s"
    assert format_duration(3725) == "1h 02m"
