"""Tests for gptlab.data.prepare: shards, counts, filters, val split, determinism, atomicity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gptlab.data.prepare import (
    SplitWriter,
    encode_documents,
    is_val_document,
    load_meta,
    prepare,
    verify_dataset,
)
from gptlab.data.shards import open_shard, read_header
from gptlab.errors import ConfigError, DataError


class ListSource:
    """A source over in-memory documents; `fail_after` raises KeyboardInterrupt mid-stream."""

    def __init__(
        self,
        train: list[str],
        val: list[str] | None = None,
        fail_after: int | None = None,
        name: str = "listed",
    ) -> None:
        self.name = name
        self._docs = {"train": train} if val is None else {"train": train, "val": val}
        self.fail_after = fail_after
        self.reads = 0

    def splits(self) -> list[str]:
        return list(self._docs)

    def documents(self, split: str) -> Iterator[str]:
        for index, text in enumerate(self._docs[split]):
            if self.fail_after is not None and index == self.fail_after:
                raise KeyboardInterrupt
            self.reads += 1
            yield text


def _split_tokens(dataset: Path, split: str) -> np.ndarray:
    meta = load_meta(dataset)
    arrays = [np.asarray(open_shard(dataset / s["file"])) for s in meta["splits"][split]["shards"]]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint16)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_builtin_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = prepare(
        "builtin",
        out,
        tokenizer="byte",
        builtin_stories=300,
        val_fraction=0.05,
        num_workers=1,
        progress=False,
    )
    assert result.out_dir == out
    meta = load_meta(out)
    verify_dataset(out)
    assert meta["format"] == "gptlab-dataset"
    assert meta["token_dtype"] == "uint16"
    eos = meta["eos_id"]
    total_documents = 0
    for split in ("train", "val"):
        info = meta["splits"][split]
        tokens = _split_tokens(out, split)
        assert sum(s["tokens"] for s in info["shards"]) == info["tokens"] == tokens.size
        assert info["tokens"] == result.splits[split].tokens
        assert int(np.count_nonzero(tokens == eos)) == info["documents"]
        assert tokens[-1] == eos
        assert info["bytes"] > 0
        total_documents += info["documents"]
    assert total_documents == 300
    assert 0 < meta["splits"]["val"]["documents"] < 60
    assert (out / "tokenizer.json").is_file()
    assert result.tokens_per_s > 0
    assert _leftovers(tmp_path) == []


def test_tinystories_gpt2_filter_counts(tmp_path: Path, shared_data: Path, gpt2_dir: Path) -> None:
    source = shared_data / "tinystories" / "TinyStoriesV2-GPT4-train.first10000lines.txt"
    result = prepare(
        str(source),
        tmp_path / "ts",
        tokenizer="gpt2",
        tokenizer_dir=gpt2_dir,
        min_tokens=2,
        max_tokens=256,
        num_workers=1,
        progress=False,
    )
    counts = result.splits.values()
    assert sum(c.documents + c.dropped_short + c.dropped_long for c in counts) == 1727
    assert sum(c.dropped_long for c in counts) > 0
    meta = load_meta(tmp_path / "ts")
    assert meta["vocab_size"] == 50257 and meta["eos_id"] == 50256
    assert meta["filter"] == {"min_tokens": 2, "max_tokens": 256}
    tokens = _split_tokens(tmp_path / "ts", "train")
    boundaries = np.flatnonzero(tokens == 50256)
    assert np.diff(np.concatenate([[-1], boundaries])).max() - 1 <= 256


def test_one_and_two_workers_give_identical_shards(tmp_path: Path) -> None:
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        prepare(
            "builtin",
            out,
            tokenizer="char",
            builtin_stories=1200,  # three batches of 512 documents, so the pool really runs
            shard_tokens=150_000,
            num_workers=workers,
            progress=False,
        )
        outputs.append(out)
    one, two = (load_meta(o) for o in outputs)
    assert one["splits"] == two["splits"]
    assert len(one["splits"]["train"]["shards"]) > 1
    for shard in one["splits"]["train"]["shards"] + one["splits"]["val"]["shards"]:
        name = shard["file"]
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()


def test_min_tokens_above_max_tokens_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="min_tokens=10 is larger than max_tokens=5"):
        prepare(
            ListSource(["a b c"]), tmp_path / "x", tokenizer="byte", min_tokens=10, max_tokens=5
        )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"val_fraction": 0.7}, "val_fraction"),
        ({"tokenizer": "bpe"}, "vocab-size"),
        ({"tokenizer": "byte", "vocab_size": 300}, "vocab-size"),
        ({"tokenizer": "nope"}, "Unknown tokenizer"),
        ({"shard_tokens": 0}, "shard_tokens"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, options: dict, message: str) -> None:
    kwargs = {"tokenizer": "byte", **options}
    with pytest.raises(ConfigError, match=message):
        prepare(ListSource(["hello"]), tmp_path / "x", progress=False, **kwargs)


def test_every_document_filtered_out_is_a_data_error(tmp_path: Path) -> None:
    source = ListSource(["short", "tiny", "a much longer document than the others, by far"])
    with pytest.raises(DataError) as excinfo:
        prepare(
            source, tmp_path / "x", tokenizer="byte", min_tokens=20, max_tokens=30, progress=False
        )
    message = str(excinfo.value)
    assert "2 shorter than min_tokens=20" in message
    assert "1 longer than max_tokens=30" in message
    assert not (tmp_path / "x").exists()
    assert _leftovers(tmp_path) == []


def test_filter_counts_per_document(tmp_path: Path) -> None:
    docs = ["ab", "abcd", "abcdef", "abcdefgh"]  # byte tokenizer: 2, 4, 6, 8 tokens
    result = prepare(
        ListSource(docs, val=["abcde"]),
        tmp_path / "x",
        tokenizer="byte",
        min_tokens=3,
        max_tokens=6,
        progress=False,
    )
    train = result.splits["train"]
    assert (train.documents, train.dropped_short, train.dropped_long) == (2, 1, 1)
    assert train.tokens == 4 + 1 + 6 + 1
    assert train.bytes == 10
    assert result.splits["val"].documents == 1  # the source's own val split is used as it is


def test_output_exists_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "x"
    prepare(ListSource(["one", "two", "three"]), out, tokenizer="byte", progress=False)
    first = load_meta(out)
    with pytest.raises(DataError, match="--overwrite"):
        prepare(ListSource(["four"]), out, tokenizer="byte", progress=False)
    assert load_meta(out) == first
    prepare(ListSource(["four", "five"]), out, tokenizer="byte", overwrite=True, progress=False)
    meta = load_meta(out)
    assert meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == 2
    assert _leftovers(tmp_path) == []


def test_tiny_corpus_still_gets_one_val_document(tmp_path: Path) -> None:
    docs = ["first", "second", "third"]
    result = prepare(ListSource(docs), tmp_path / "x", tokenizer="byte", progress=False)
    assert result.splits["val"].documents == 1
    assert result.splits["train"].documents == 2
    val = _split_tokens(tmp_path / "x", "val")
    assert bytes(val[:-1].astype(np.uint8)) == b"third"  # the last kept document moved to val
    none = prepare(
        ListSource(docs), tmp_path / "y", tokenizer="byte", val_fraction=0.0, progress=False
    )
    assert none.splits["val"].documents == 0
    assert load_meta(tmp_path / "y")["splits"]["val"]["shards"][0]["tokens"] == 0
    one = prepare(ListSource(["alone"]), tmp_path / "z", tokenizer="byte", progress=False)
    assert (one.splits["train"].documents, one.splits["val"].documents) == (1, 0)


def test_val_draw_is_stable_and_close_to_the_fraction() -> None:
    picks = [is_val_document(7, i, 0.1) for i in range(20_000)]
    assert 0.09 < sum(picks) / len(picks) < 0.11
    assert picks == [is_val_document(7, i, 0.1) for i in range(20_000)]
    assert picks != [is_val_document(8, i, 0.1) for i in range(20_000)]
    assert not any(is_val_document(7, i, 0.0) for i in range(1000))


@pytest.mark.parametrize("workers", [1, 2])
def test_interruption_leaves_no_folder(tmp_path: Path, workers: int) -> None:
    docs = [f"document number {i}" for i in range(1500)]
    source = ListSource(docs, fail_after=1300)
    with pytest.raises(KeyboardInterrupt):
        prepare(source, tmp_path / "x", tokenizer="byte", num_workers=workers, progress=False)
    assert source.reads == 1300
    assert not (tmp_path / "x").exists()
    assert _leftovers(tmp_path) == []


def test_interrupted_overwrite_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "x"
    prepare(ListSource(["old one", "old two"]), out, tokenizer="byte", progress=False)
    old = load_meta(out)
    with pytest.raises(KeyboardInterrupt):
        prepare(
            ListSource(["a", "b", "c"], fail_after=2),
            out,
            tokenizer="byte",
            overwrite=True,
            progress=False,
        )
    assert load_meta(out) == old
    verify_dataset(out)
    assert _leftovers(tmp_path) == []


class ToyTokenizer:
    """A tokenizer-like object whose vocabulary is too big for uint16 (id = code point + 65,000)."""

    vocab_size = 70_000
    eos_id = 69_999

    def encode_arrays(self, texts: list[str]) -> list[np.ndarray]:
        return [np.array([65_000 + ord(ch) for ch in text], dtype=np.int64) for text in texts]


def test_large_vocabulary_writes_uint32_shards(tmp_path: Path) -> None:
    encoded = encode_documents(ToyTokenizer(), ["hi", "", "hey"])
    assert encoded.tokens.dtype == np.uint32
    assert encoded.lengths.tolist() == [2, 0, 3]
    writer = SplitWriter(tmp_path, "train", ToyTokenizer.vocab_size, shard_tokens=1000)
    writer.write_documents(encoded.tokens, encoded.lengths + 1)
    shards = writer.close()
    path = tmp_path / shards[0]["file"]
    assert read_header(path).bytes_per_token == 4
    tokens = open_shard(path)
    assert tokens.dtype == np.uint32
    assert tokens.tolist() == [65_104, 65_105, 69_999, 69_999, 65_104, 65_101, 65_121, 69_999]


def test_shards_hold_whole_documents(tmp_path: Path) -> None:
    lengths = np.array([3, 4, 2, 9, 1, 1])  # EOS included; the 9-token document exceeds a shard
    tokens = np.concatenate([np.r_[np.full(n - 1, i), 99] for i, n in enumerate(lengths)])
    writer = SplitWriter(tmp_path, "val", vocab_size=100, shard_tokens=6)
    writer.write_documents(tokens[:7], lengths[:2])
    writer.write_documents(tokens[7:], lengths[2:])
    shards = writer.close()
    assert [s["file"] for s in shards] == [
        "val_000000.bin",
        "val_000001.bin",
        "val_000002.bin",
        "val_000003.bin",
    ]
    assert [s["tokens"] for s in shards] == [3, 6, 9, 2]
    stream = np.concatenate([open_shard(tmp_path / s["file"]) for s in shards])
    assert stream.tolist() == tokens.tolist()
    assert all(open_shard(tmp_path / s["file"])[-1] == 99 for s in shards)


def test_verify_dataset_catches_a_flipped_byte_and_a_truncated_shard(tmp_path: Path) -> None:
    out = tmp_path / "x"
    prepare(ListSource([f"doc {i}" for i in range(50)]), out, tokenizer="byte", progress=False)
    verify_dataset(out)
    shard = out / "train_000000.bin"
    original = shard.read_bytes()
    flipped = bytearray(original)
    flipped[-3] ^= 0x01
    shard.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"train_000000\.bin"):
        verify_dataset(out)
    shard.write_bytes(original[:-2])
    with pytest.raises(DataError, match=r"train_000000\.bin"):
        verify_dataset(out)
    shard.write_bytes(original)
    verify_dataset(out)


def test_load_meta_errors_suggest_prepare(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*gptlab prepare"):
        load_meta(tmp_path / "missing")
    with pytest.raises(DataError, match=r"no meta\.json.*gptlab prepare"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"is not valid JSON.*gptlab prepare"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(DataError, match="not a gptlab dataset"):
        load_meta(tmp_path)
