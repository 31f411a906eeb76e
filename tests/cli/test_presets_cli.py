"""Tests of `gptlab presets`."""

from __future__ import annotations

import re

import pytest

from gptlab.cli import main
from gptlab.config import PRESETS


def test_presets_lists_every_preset_with_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert re.search(r"gpt2-124m .* 124\.4 +85\.1 ", out)  # tied, GPT-2 vocabulary
    assert re.search(r"seed-14m .* 13\.7 +7\.2 ", out)  # untied: the head counts too


def test_presets_vocab_size_changes_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "--vocab-size", "1000"]) == 0
    out = capsys.readouterr().out
    assert "vocabulary of 1000" in out
    assert "124.4" not in out


def test_presets_rejects_zero_vocab(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "--vocab-size", "0"]) == 2
    assert "positive" in capsys.readouterr().err
