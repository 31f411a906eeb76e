"""Tests for `gptlab batches`: decoded inputs and targets, and a refused bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.cli import main
from gptlab.data.prepare import prepare


def test_batches_prints_inputs_beside_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "story.txt"
    source.write_text("小猫在花园里玩。它很开心！", encoding="utf-8")  # written for this test
    prepare(str(source), tmp_path / "d", tokenizer="char", val_fraction=0.0, progress=False)
    args = ["batches", str(tmp_path / "d"), "--mode", "sliding", "--context", "4"]
    rc = main([*args, "--stride", "1", "--batch", "2", "--count", "1", "--no-shuffle"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "each target y[t] is the token after input x[t]" in " ".join(out.split())
    assert "小 猫 在 花" in out and "猫 在 花 园" in out  # sample 0: x and y
    assert "猫 在 花 园" in out and "在 花 园 里" in out  # sample 1: one token later
    assert "batch 1: 2 samples x 4 tokens" in out


def test_unknown_mode_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "story.txt"
    source.write_text("A short text for one window.", encoding="utf-8")
    prepare(str(source), tmp_path / "d", tokenizer="char", val_fraction=0.0, progress=False)
    rc = main(["batches", str(tmp_path / "d"), "--mode", "shuffled"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "Unknown batch mode 'shuffled'" in " ".join(err.split())
