"""Tests for gptlab.data.splits through prepare(): contiguous val of one text, empty and tiny
splits, and NAME.train.txt / NAME.val.txt pairs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gptlab.data.prepare import load_meta, prepare, verify_dataset
from gptlab.data.shards import open_shard
from gptlab.data.tokenizers import load_tokenizer

# Written for these tests: a short story in Chinese, one paragraph (a single document).
STORY = (
    "小明家旁边有一条安静的小河。每天放学以后，他都会坐在河边看书，听风吹过树叶的声音。"
    "有一天，他看见一只白色的鸭子带着五只小鸭子慢慢地游过来！小明高兴地数了又数：一、二、"
    "三、四、五。妈妈说，明天我们带些面包来给它们吃吧？小明点点头，心里想着明天的事情。"
)


class Texts:
    """A source over in-memory documents, with no val split."""

    name = "texts"

    def __init__(self, documents: list[str]) -> None:
        self._documents = documents

    def splits(self) -> list[str]:
        return ["train"]

    def documents(self, split: str) -> Iterator[str]:
        yield from self._documents


def split_tokens(dataset: Path, split: str) -> np.ndarray:
    meta = load_meta(dataset)
    parts = [np.asarray(open_shard(dataset / s["file"])) for s in meta["splits"][split]["shards"]]
    return np.concatenate(parts).astype(np.int64)


def test_one_text_gets_the_last_fraction_of_its_tokens_as_val(tmp_path: Path) -> None:
    result = prepare(
        Texts([STORY]),
        tmp_path / "d",
        tokenizer="char",
        val_fraction=0.2,
        num_workers=1,
        progress=False,
    )
    assert result.split == "contiguous"
    assert "single document" in result.val_source
    tokenizer = load_tokenizer(tmp_path / "d")
    whole = [*tokenizer.encode(STORY), tokenizer.eos_id]
    train, val = split_tokens(tmp_path / "d", "train"), split_tokens(tmp_path / "d", "val")
    assert len(val) == round(0.2 * len(whole))
    assert [*train, *val] == whole  # nothing lost, nothing reordered
    counts = result.splits
    assert counts["train"].bytes + counts["val"].bytes == len(STORY.encode("utf-8"))
    assert counts["val"].bytes == len(tokenizer.decode(val[:-1].tolist()).encode("utf-8"))
    assert counts["train"].documents == counts["val"].documents == 1  # the cut document
    meta = load_meta(tmp_path / "d")
    assert meta["split"] == "contiguous" and meta["warnings"] == result.warnings
    assert any("only" in w and "tokens" in w for w in result.warnings)  # a 200-token text is tiny
    verify_dataset(tmp_path / "d")


def test_one_text_split_by_documents_is_empty_and_said_loudly(tmp_path: Path) -> None:
    result = prepare(
        Texts([STORY]),
        tmp_path / "d",
        tokenizer="char",
        val_fraction=0.2,
        split="documents",
        num_workers=1,
        progress=False,
    )
    assert result.splits["val"].tokens == 0
    assert any("EMPTY" in w and "--split contiguous" in w for w in result.warnings)


def test_contiguous_cut_across_shards_keeps_the_stream(tmp_path: Path) -> None:
    documents = [f"{STORY[: 20 + 7 * i]}" for i in range(12)]
    kwargs = {"tokenizer": "char", "num_workers": 1, "progress": False, "shard_tokens": 60}
    whole = prepare(Texts(documents), tmp_path / "all", val_fraction=0.0, **kwargs)
    cut = prepare(
        Texts(documents), tmp_path / "cut", val_fraction=0.3, split="contiguous", **kwargs
    )
    stream = split_tokens(tmp_path / "all", "train")
    train, val = split_tokens(tmp_path / "cut", "train"), split_tokens(tmp_path / "cut", "val")
    assert len(val) == round(0.3 * len(stream))
    assert np.array_equal(np.concatenate([train, val]), stream)
    assert len(load_meta(tmp_path / "cut")["splits"]["train"]["shards"]) > 1
    counts, total = cut.splits, whole.splits["train"]
    assert counts["train"].tokens + counts["val"].tokens == total.tokens
    assert counts["train"].bytes + counts["val"].bytes == total.bytes
    eos = load_tokenizer(tmp_path / "cut").eos_id
    assert counts["val"].documents == int(np.count_nonzero(val == eos))
    assert counts["train"].documents == int(np.count_nonzero(train == eos)) + (train[-1] != eos)
    verify_dataset(tmp_path / "cut")


def test_many_documents_stay_split_by_documents(tmp_path: Path) -> None:
    documents = [STORY[i : i + 30] for i in range(0, 150, 10)]
    result = prepare(
        Texts(documents),
        tmp_path / "d",
        tokenizer="char",
        val_fraction=0.2,
        num_workers=1,
        progress=False,
    )
    assert result.split == "documents"
    assert result.splits["val"].documents >= 1


def test_a_tiny_val_share_is_warned_and_the_asked_one_is_not(tmp_path: Path) -> None:
    long_text = STORY * 60
    kwargs = {"tokenizer": "char", "num_workers": 1, "progress": False}
    tiny = prepare(Texts([long_text]), tmp_path / "a", val_fraction=0.0005, **kwargs)
    assert any("0.05% of the" in w and "noisy" in w for w in tiny.warnings)
    asked = prepare(Texts([long_text]), tmp_path / "b", val_fraction=0.01, **kwargs)
    assert not any("noisy" in w for w in asked.warnings)


def test_a_source_val_split_under_one_percent_is_warned(tmp_path: Path) -> None:
    (tmp_path / "story.train.txt").write_text(STORY * 60, encoding="utf-8")
    (tmp_path / "story.val.txt").write_text(STORY[:40], encoding="utf-8")
    result = prepare(
        str(tmp_path / "story.train.txt"), tmp_path / "d", tokenizer="char", progress=False
    )
    assert any("noisy" in w for w in result.warnings)


def test_name_train_and_name_val_files_give_the_splits(tmp_path: Path) -> None:
    (tmp_path / "story.train.txt").write_text(STORY[:100], encoding="utf-8")
    (tmp_path / "story.val.txt").write_text(STORY[100:], encoding="utf-8")
    result = prepare(
        str(tmp_path / "story.train.txt"),
        tmp_path / "d",
        tokenizer="char",
        num_workers=1,
        progress=False,
    )
    assert result.split == "source"
    assert result.splits["train"].bytes == len(STORY[:100].encode("utf-8"))
    assert result.splits["val"].bytes == len(STORY[100:].strip().encode("utf-8"))
    assert load_meta(tmp_path / "d")["source_description"].endswith("(2 files)")


def test_unknown_split_mode_is_a_config_error(tmp_path: Path) -> None:
    from gptlab.errors import ConfigError

    with pytest.raises(ConfigError, match="contiguous"):
        prepare(Texts([STORY]), tmp_path / "d", tokenizer="char", split="tail", progress=False)
    assert not (tmp_path / "d").exists()
