"""Fixtures of the fault tests; puts this folder on sys.path so tests import reliability_helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gptlab.data.prepare import prepare

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 27 KB of built-in stories, byte tokenizer, with a val split."""
    out = tmp_path_factory.mktemp("reliability-data") / "builtin"
    prepare(
        "builtin",
        out,
        tokenizer="byte",
        builtin_stories=40,
        val_fraction=0.1,
        num_workers=1,
        progress=False,
    )
    return out
