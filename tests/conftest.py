"""Shared fixtures: where the real shared data lives, and a quiet, seeded torch."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_data() -> Path:
    """The read-only real data beside the checkout; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def gpt2_dir(shared_data: Path) -> Path:
    """Folder with the offline GPT-2 BPE ranks file."""
    path = shared_data / "gpt2_tokenizer"
    if not (path / "r50k_base.tiktoken").is_file():
        pytest.skip("offline GPT-2 tokenizer files not found in shared data")
    return path
