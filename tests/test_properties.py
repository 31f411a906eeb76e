"""Property-based tests (hypothesis) of the parsers and readers that take user input.

Config overrides and TOML round trips, shard headers under arbitrary corruption, tokenizer
round trips on arbitrary text, and sliding-window coverage of the loader. Each property keeps to
a few dozen examples so the file stays fast on a shared CPU.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gptlab.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    load_config,
    save_config,
)
from gptlab.data.loader import TokenLoader
from gptlab.data.shards import HEADER_BYTES, open_shard, read_header, write_shard
from gptlab.data.tokenizers import Tokenizer, make_tokenizer
from gptlab.errors import ConfigError, DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- config -------------------------------------------------------------------------------------

# Values that every field accepts alone (constraints between fields are kept by construction).
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "data.batch_mode": st.sampled_from(["random", "sliding", "document"]),
    "data.stride": st.integers(0, 10_000),
    "data.drop_last": st.booleans(),
    "model.n_layer": st.integers(1, 48),
    "model.ffn_dim": st.integers(0, 10_000),
    "model.context_length": st.integers(1, 8192),
    "model.vocab_size": st.integers(0, 200_000),
    "model.tie_weights": st.booleans(),
    "model.dropout": st.floats(0.0, 0.99),
    "optim.name": st.sampled_from(["adamw", "muon"]),
    "optim.schedule": st.sampled_from(["cosine", "linear", "constant"]),
    "optim.warmup_steps": st.integers(0, 10_000),
    "optim.weight_decay": st.floats(0.0, 10.0),
    "optim.beta2": st.floats(0.0, 0.999),
    "optim.grad_clip": st.floats(0.0, 100.0),
    "train.micro_batch_size": st.integers(1, 4096),
    "train.max_steps": st.integers(0, 10**9),
    "train.seed": st.integers(0, 2**31),
    "train.precision": st.sampled_from(["auto", "fp32", "bf16", "fp16"]),
    "train.sample_prompts": st.lists(st.text(max_size=20), max_size=3).map(tuple),
    "run.out_dir": st.text(alphabet="abcxyz/_-.", min_size=1, max_size=20),
    "run.wandb_project": st.text(max_size=20),
}


def _toml_value(value: Any) -> str:
    """How a user writes the value after `--set key=` (TOML syntax)."""
    text = tomli_w.dumps({"v": list(value) if isinstance(value, tuple) else value})
    return text.removeprefix("v = ").rstrip("\n")


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True, max_size=8))
    return {name: draw(FIELD_VALUES[name]) for name in names}


def _get(cfg: Config, dotted: str) -> Any:
    section, _, name = dotted.partition(".")
    return getattr(getattr(cfg, section), name)


@FAST
@given(overrides())
def test_overrides_set_exactly_the_given_fields(values: dict[str, Any]) -> None:
    base = Config()
    cfg = apply_overrides(base, [f"{k}={_toml_value(v)}" for k, v in values.items()])
    for name, value in values.items():
        if name == "run.out_dir":  # paths are kept in one spelling: "a/" is "a"
            value = os.path.normpath(value)
        assert _get(cfg, name) == value, name
    untouched = set(config_to_dict(base)["model"]) - {k.split(".")[1] for k in values}
    for name in untouched:
        assert getattr(cfg.model, name) == getattr(base.model, name)


@FAST
@given(overrides())
def test_config_round_trips_through_dict_toml_and_file(values: dict[str, Any]) -> None:
    cfg = apply_overrides(Config(), [f"{k}={_toml_value(v)}" for k, v in values.items()])
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert config_from_dict(tomllib.loads(config_to_toml(cfg))) == cfg
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        save_config(cfg, path)
        assert load_config(path) == cfg


@FAST
@given(
    key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", max_size=25),
    value=st.text(max_size=30),
)
def test_any_override_is_applied_or_a_config_error(key: str, value: str) -> None:
    try:
        cfg = apply_overrides(Config(), [f"{key}={value}"])
    except ConfigError as exc:
        assert str(exc).strip()
    else:
        assert isinstance(cfg, Config)


@FAST
@given(
    st.sampled_from(["nan", "inf", "-inf", "+inf"]), st.sampled_from(["optim.lr", "train.epochs"])
)
def test_non_finite_floats_are_refused(text: str, field: str) -> None:
    with pytest.raises(ConfigError, match="finite"):
        apply_overrides(Config(), [f"{field}={text}"])


# ---- shard headers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_shard(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("shard") / "train_000000.bin"
    write_shard(path, np.arange(500) % 257, vocab_size=257)
    return path.read_bytes()


def _check_corrupt_shard(data: bytes) -> None:
    """Reading must give a consistent header and tokens, or a DataError naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_000007.bin"
        path.write_bytes(data)
        try:
            header = read_header(path)
            tokens = open_shard(path)
        except DataError as exc:
            assert str(path) in str(exc)
            return
        assert header.num_tokens >= 0
        assert len(tokens) == header.num_tokens
        assert HEADER_BYTES + header.num_tokens * header.bytes_per_token == len(data)
        assert header.vocab_size >= 1
        del tokens


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, HEADER_BYTES - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    slots=st.lists(st.integers(0, 7), max_size=3),
)
def test_corrupt_header_bytes_raise_data_error(
    good_shard: bytes, edits: list[tuple[int, int]], slots: list[int]
) -> None:
    data = bytearray(good_shard)
    # Half the edits land in the slots that are read (0-5), where damage matters most.
    for (offset, value), slot in zip(edits, slots + [None] * len(edits), strict=False):
        position = offset if slot is None else slot * 4 + offset % 4
        data[position] = value
    _check_corrupt_shard(bytes(data))


@FAST
@given(st.data())
def test_truncated_or_extended_shards_raise_data_error(
    good_shard: bytes, data: st.DataObject
) -> None:
    length = data.draw(st.integers(0, len(good_shard) + 64))
    assume(length != len(good_shard))
    body = good_shard[:length] + bytes(max(0, length - len(good_shard)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "val_000000.bin"
        path.write_bytes(body)
        with pytest.raises(DataError, match=str(path.name)):
            read_header(path)


@FAST
@given(st.binary(max_size=2 * HEADER_BYTES))
def test_random_files_are_never_read_as_shards(blob: bytes) -> None:
    _check_corrupt_shard(blob)


def test_header_with_hostile_counts_raises_data_error(good_shard: bytes, tmp_path: Path) -> None:
    """Negative or huge counts in the int32 slots must not reach numpy or struct."""
    header = np.frombuffer(good_shard[:HEADER_BYTES], dtype="<i4").copy()
    for slot, value in [(3, -1), (4, -1), (4, 2**31 - 1), (2, 0), (2, -4), (5, -7), (5, 0)]:
        bad = header.copy()
        bad[slot] = value
        path = tmp_path / f"slot{slot}_{value}.bin"
        path.write_bytes(bad.tobytes() + good_shard[HEADER_BYTES:])
        with pytest.raises(DataError, match=path.name):
            open_shard(path)


# ---- tokenizer round trips ----------------------------------------------------------------------

TEXT = st.text(max_size=200)


@FAST
@given(TEXT)
def test_byte_tokenizer_round_trip(text: str) -> None:
    tokenizer = make_tokenizer("byte")
    ids = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.eos_id not in ids
    assert tokenizer.decode(ids) == text


@FAST
@given(TEXT.filter(bool), st.text(max_size=50))
def test_char_tokenizer_round_trip(text: str, more: str) -> None:
    tokenizer = make_tokenizer("char", texts=lambda: [text + more])
    ids = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.decode(ids) == text


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    corpus = [
        "Once upon a time there was a little fox who loved the moon.",
        "The quick brown fox jumps over the lazy dog; naïve café, 東京, emoji 🙂.",
    ] * 20

    def texts() -> Iterator[str]:
        return iter(corpus)

    return make_tokenizer("bpe", texts=texts, vocab_size=320)


@FAST
@given(TEXT)
def test_bpe_tokenizer_round_trip_on_unseen_text(bpe: Tokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == text
    assert bpe.encode_batch([text, text]) == [ids, ids]


# ---- loader windows -----------------------------------------------------------------------------


def _counting_dataset(directory: Path, num_tokens: int, cuts: list[int]) -> Path:
    """A train split whose token at position i is i (so a window's values are its positions)."""
    tokens = np.arange(num_tokens, dtype=np.int64)
    edges = [0, *sorted(set(cuts)), num_tokens]
    shards = []
    for index, (a, b) in enumerate(itertools.pairwise(edges)):
        name = f"train_{index:06d}.bin"
        write_shard(directory / name, tokens[a:b], 60_000)
        shards.append({"file": name, "tokens": b - a, "sha256": ""})
    meta = {
        "format": "gptlab-dataset", "format_version": 1, "source": "test",
        "vocab_size": 60_000, "eos_id": 59_999, "token_dtype": "uint16",
        "splits": {"train": {"documents": 0, "dropped_short": 0, "dropped_long": 0,
                             "tokens": num_tokens, "bytes": 0, "shards": shards}},
    }  # fmt: skip
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    num_tokens=st.integers(2, 300),
    context_length=st.integers(1, 40),
    stride=st.integers(1, 80),
    batch_size=st.integers(1, 6),
    cuts=st.lists(st.integers(1, 299), max_size=3),
)
def test_sliding_windows_stay_in_range_and_reach_every_token(
    num_tokens: int, context_length: int, stride: int, batch_size: int, cuts: list[int]
) -> None:
    T = min(context_length, num_tokens - 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = _counting_dataset(Path(tmp), num_tokens, [c for c in cuts if c < num_tokens])
        loader = TokenLoader(
            path, "train", batch_size=batch_size, context_length=T, mode="sliding",
            stride=stride, drop_last=False,
        )  # fmt: skip
        seen: set[int] = set()
        starts: list[int] = []
        for _ in range(loader.batches_per_epoch or 0):
            batch = loader.next_batch()
            x, y = batch.x.numpy(), batch.y.numpy()
            assert x.shape[1] == T and y.shape == x.shape
            assert x.min() >= 0 and y.max() <= num_tokens - 1
            assert (y - x == 1).all()
            # Each row is one contiguous window of the stream.
            assert (np.diff(x, axis=1) == 1).all()
            starts += x[:, 0].tolist()
            seen.update(x.flatten().tolist())
            seen.update(y.flatten().tolist())
        assert loader.epoch == 1
        assert sorted(set(starts)) == sorted(starts), "a window was served twice in one epoch"
        if stride <= T:
            assert seen == set(range(num_tokens)), "some token was never in a window"
        else:
            # Gaps are expected; every window start is a multiple of the stride or the last one.
            last = num_tokens - T - 1
            assert all(s % stride == 0 or s == last for s in starts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(num_tokens=st.integers(2, 200), context_length=st.integers(1, 300))
def test_window_longer_than_the_split_is_a_data_error(num_tokens: int, context_length: int) -> None:
    assume(context_length + 1 > num_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        path = _counting_dataset(Path(tmp), num_tokens, [])
        for mode in ("random", "sliding"):
            with pytest.raises(DataError):
                TokenLoader(path, "train", batch_size=1, context_length=context_length, mode=mode)
