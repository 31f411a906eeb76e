"""Tests for gptlab.data.batch_preview: the decoded first batches are the training loader's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gptlab.data.batch_preview import preview_batches, visible
from gptlab.data.loader import TokenLoader, load_split_tokens
from gptlab.data.prepare import prepare
from gptlab.errors import ConfigError

TEXT = "The cat sat on the mat.\nThe dog ran."  # written for this test


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batches") / "d"
    source = folder.parent / "story.txt"
    source.write_text(TEXT, encoding="utf-8")
    prepare(str(source), folder, tokenizer="char", val_fraction=0.0, num_workers=1, progress=False)
    return folder


def test_sliding_stride_one_in_order_walks_the_text(dataset: Path) -> None:
    previews = preview_batches(
        dataset, mode="sliding", context_length=4, stride=1, batch_size=2, count=3, shuffle=False
    )
    samples = [s for p in previews for s in p.samples]
    stream = np.asarray(load_split_tokens(dataset, "train")).tolist()
    for start, sample in enumerate(samples):
        assert sample.input_ids == stream[start : start + 4]
        assert sample.target_ids == stream[start + 1 : start + 5]
    assert samples[0].input_pieces == ["T", "h", "e", "·"]
    assert samples[0].target_pieces == ["h", "e", "·", "c"]


def test_preview_equals_the_training_loader(dataset: Path) -> None:
    previews = preview_batches(dataset, mode="random", context_length=6, batch_size=3, count=2)
    loader = TokenLoader(dataset, "train", batch_size=3, context_length=6, mode="random")
    for preview in previews:
        batch = loader.next_batch()
        assert [s.input_ids for s in preview.samples] == batch.x.tolist()
        assert [s.target_ids for s in preview.samples] == batch.y.tolist()


def test_document_mode_marks_padding(dataset: Path) -> None:
    (preview,) = preview_batches(dataset, mode="document", context_length=48, batch_size=1, count=1)
    sample = preview.samples[0]
    assert not all(sample.target_counts)  # the document is shorter than 48: padded targets


def test_visible_whitespace_and_limits(dataset: Path) -> None:
    assert visible("a b\n\t") == "a·b⏎⇥"
    with pytest.raises(ConfigError, match="more than this preview shows"):
        preview_batches(dataset, context_length=8, batch_size=64, count=10)
    with pytest.raises(ConfigError, match="at least 1"):
        preview_batches(dataset, count=0)
