"""Tests for gptlab.data.loader: the three batch modes, ranks, epochs, errors and exact resume."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptlab.data.loader import (
    Batch,
    TokenLoader,
    count_tokens,
    load_split_tokens,
)
from gptlab.data.shards import write_shard
from gptlab.errors import CheckpointError, ConfigError, DataError

VOCAB_SIZE = 60_000
EOS_ID = VOCAB_SIZE - 1


def make_dataset(
    directory: Path,
    splits: dict[str, list[np.ndarray]],
    eos_id: int = EOS_ID,
    vocab_size: int = VOCAB_SIZE,
) -> Path:
    """Write each split's shards and a meta.json in the prepared-dataset format."""
    directory.mkdir(parents=True, exist_ok=True)
    meta_splits: dict[str, Any] = {}
    for split, shards in splits.items():
        entries = []
        for index, tokens in enumerate(shards):
            name = f"{split}_{index:06d}.bin"
            write_shard(directory / name, tokens, vocab_size)
            entries.append({"file": name, "tokens": len(tokens), "sha256": ""})
        total = sum(len(tokens) for tokens in shards)
        meta_splits[split] = {
            "documents": 0,
            "dropped_short": 0,
            "dropped_long": 0,
            "tokens": total,
            "bytes": 0,
            "shards": entries,
        }
    meta = {
        "format": "gptlab-dataset",
        "format_version": 1,
        "source": "test",
        "vocab_size": vocab_size,
        "eos_id": eos_id,
        "token_dtype": "uint16",
        "splits": meta_splits,
    }
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return directory


def split_into_shards(tokens: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    edges = [0, *sorted(cuts), len(tokens)]
    return [tokens[a:b] for a, b in itertools.pairwise(edges)]


@pytest.fixture
def counting_dataset(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Train split = 0..999 (every value unique) in three shards of uneven size."""
    tokens = np.arange(1000, dtype=np.int64)
    path = make_dataset(tmp_path / "ds", {"train": split_into_shards(tokens, [137, 600])})
    return path, tokens


def documents_stream(lengths: list[int], rng: np.random.Generator) -> np.ndarray:
    """Documents of the given lengths (EOS included), ids below EOS_ID, each ending in EOS."""
    parts = []
    for length in lengths:
        parts.append(rng.integers(0, 1000, size=length - 1))
        parts.append(np.array([EOS_ID]))
    return np.concatenate(parts).astype(np.int64)


def take(loader: TokenLoader, count: int) -> list[Batch]:
    return [loader.next_batch() for _ in range(count)]


def assert_same_batches(first: list[Batch], second: list[Batch]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a.x, b.x)
        assert torch.equal(a.y, b.y)
        assert (a.loss_mask is None) == (b.loss_mask is None)
        if a.loss_mask is not None and b.loss_mask is not None:
            assert torch.equal(a.loss_mask, b.loss_mask)


def window_starts(batch: Batch) -> list[int]:
    """On the counting dataset a token's value is its position, so x[:, 0] is the start."""
    return batch.x[:, 0].tolist()


# ---- the split view ---------------------------------------------------------------------------


def test_split_tokens_reads_across_shard_boundaries(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB_SIZE, size=200)
    path = make_dataset(tmp_path / "ds", {"train": split_into_shards(tokens, [1, 50, 50, 199])})
    view = load_split_tokens(path, "train")
    assert len(view) == 200
    assert count_tokens(path, "train") == 200
    for start in range(0, 201, 7):
        for stop in range(start, 201, 11):
            np.testing.assert_array_equal(view.read(start, stop), tokens[start:stop])
    np.testing.assert_array_equal(view[45:60], tokens[45:60])
    np.testing.assert_array_equal(np.asarray(view), tokens)
    positions = np.array([0, 1, 49, 50, 51, 100, 101, 150, 199])  # both sides of each boundary
    np.testing.assert_array_equal(view.take(positions), tokens[positions])
    with pytest.raises(IndexError):
        view.read(190, 201)


def test_windows_across_shard_boundaries_match_the_concatenated_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, VOCAB_SIZE, size=300)
    path = make_dataset(tmp_path / "ds", {"train": split_into_shards(tokens, [40, 41, 170])})
    T = 32
    loader = TokenLoader(path, "train", batch_size=5, context_length=T, mode="sliding", stride=7)
    loader_starts = np.minimum(np.arange(loader.samples_per_epoch) * 7, 300 - T - 1)
    expected = {tuple(tokens[s : s + T + 1].tolist()) for s in loader_starts}
    seen = set()
    for batch in take(loader, loader.batches_per_epoch or 0):
        for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True):
            assert x[1:] == y[:-1]
            seen.add((*x, y[-1]))
    assert seen <= expected
    # Windows that straddle the shard cuts at 40, 41 and 170 were produced and correct.
    straddling = [s for s in loader_starts if s < 40 < s + T or s < 170 < s + T]
    assert straddling
    assert {tuple(tokens[s : s + T + 1].tolist()) for s in straddling} & seen


# ---- errors -------------------------------------------------------------------------------------


def test_missing_folder_meta_or_split_says_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="gptlab prepare"):
        TokenLoader(tmp_path / "nope", "train", batch_size=1, context_length=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="gptlab prepare"):
        TokenLoader(tmp_path / "empty", "train", batch_size=1, context_length=4)
    path = make_dataset(tmp_path / "ds", {"train": [np.arange(50)]})
    with pytest.raises(DataError, match="gptlab prepare") as info:
        TokenLoader(path, "val", batch_size=1, context_length=4)
    assert "'val'" in str(info.value)
    with pytest.raises(DataError, match="gptlab prepare"):
        count_tokens(path, "val")


def test_too_short_split_names_both_lengths(tmp_path: Path) -> None:
    path = make_dataset(tmp_path / "ds", {"val": [np.arange(120)]})
    for mode in ("random", "sliding"):
        with pytest.raises(DataError) as info:
            TokenLoader(path, "val", batch_size=1, context_length=256, mode=mode)
        message = str(info.value)
        assert "120 tokens" in message and "257" in message
        assert "context_length" in message
    # Exactly T + 1 tokens is one window, which is enough.
    loader = TokenLoader(path, "val", batch_size=1, context_length=119, mode="sliding")
    assert loader.batches_per_epoch == 1


def test_invalid_arguments_are_config_errors(counting_dataset: tuple[Path, np.ndarray]) -> None:
    path, _ = counting_dataset
    bad: list[dict[str, Any]] = [
        {"batch_size": 0},
        {"batch_size": -2},
        {"rank": 2, "world_size": 2},
        {"rank": -1},
        {"world_size": 0},
        {"mode": "shuffled"},
        {"stride": -1},
        {"pad_id": VOCAB_SIZE},
    ]
    for overrides in bad:
        arguments: dict[str, Any] = {"batch_size": 2, "context_length": 8, **overrides}
        with pytest.raises(ConfigError):
            TokenLoader(path, "train", **arguments)


def test_document_mode_without_usable_documents(tmp_path: Path) -> None:
    path = make_dataset(tmp_path / "ds", {"train": [np.full(10, EOS_ID)]})
    with pytest.raises(DataError, match="no document"):
        TokenLoader(path, "train", batch_size=1, context_length=8, mode="document")


def test_too_few_samples_for_one_batch_per_rank(counting_dataset: tuple[Path, np.ndarray]) -> None:
    path, _ = counting_dataset
    kwargs: dict[str, Any] = {"batch_size": 8, "context_length": 100, "mode": "sliding"}
    # 1000 tokens, T = 100: 9 full windows + 1 final one = 10 windows < 2 ranks x 8.
    with pytest.raises(DataError, match="10 windows") as info:
        TokenLoader(path, "train", world_size=2, **kwargs)
    assert "= 16" in str(info.value)
    loader = TokenLoader(path, "train", world_size=2, drop_last=False, **kwargs)
    assert loader.batches_per_epoch == 1
    with pytest.raises(DataError, match="fewer processes"):
        TokenLoader(path, "train", rank=0, world_size=11, drop_last=False, **kwargs)


# ---- random mode ------------------------------------------------------------------------------


def test_random_windows_are_contiguous_and_seeded(
    counting_dataset: tuple[Path, np.ndarray],
) -> None:
    path, tokens = counting_dataset
    T = 50

    def loader(**overrides: Any) -> TokenLoader:
        return TokenLoader(path, "train", batch_size=16, context_length=T, **overrides)

    batches = take(loader(), 20)
    for batch in batches:
        assert batch.x.shape == (16, T) and batch.x.dtype == torch.int64
        assert batch.loss_mask is None
        for start, x, y in zip(window_starts(batch), batch.x, batch.y, strict=True):
            assert 0 <= start <= len(tokens) - T - 1
            np.testing.assert_array_equal(x.numpy(), tokens[start : start + T])
            np.testing.assert_array_equal(y.numpy(), tokens[start + 1 : start + T + 1])
    assert_same_batches(batches, take(loader(), 20))
    starts = [s for batch in batches for s in window_starts(batch)]
    other_rank = [s for b in take(loader(rank=1, world_size=2), 20) for s in window_starts(b)]
    other_seed = [s for b in take(loader(seed=1), 20) for s in window_starts(b)]
    assert starts != other_rank
    assert starts != other_seed
    # 320 uniform draws over 950 starts reach both halves of the range.
    assert min(starts) < 300 and max(starts) > 650


def test_random_mode_epoch_progress_counts_all_ranks(
    counting_dataset: tuple[Path, np.ndarray],
) -> None:
    path, _ = counting_dataset
    loader = TokenLoader(path, "train", batch_size=4, context_length=50, world_size=2)
    assert loader.batches_per_epoch is None
    assert loader.samples_per_epoch == 20
    take(loader, 3)
    # 3 batches x 4 samples x 2 ranks x 50 tokens over 1000 tokens.
    assert loader.epoch_progress == pytest.approx(1.2)
    assert loader.epoch == 1


# ---- sliding mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
def test_sliding_two_ranks_cover_every_window_once(
    counting_dataset: tuple[Path, np.ndarray], shuffle: bool
) -> None:
    path, tokens = counting_dataset
    T, stride, batch_size = 30, 20, 3
    # Starts 0, 20, ..., 960 (49 windows) and the final window at 1000 - 31 = 969: 50 windows.
    all_starts = [*range(0, 961, 20), 969]
    loaders = [
        TokenLoader(
            path,
            "train",
            batch_size=batch_size,
            context_length=T,
            mode="sliding",
            stride=stride,
            rank=rank,
            world_size=2,
            shuffle=shuffle,
            drop_last=False,
        )
        for rank in range(2)
    ]
    assert [ld.batches_per_epoch for ld in loaders] == [9, 9]
    assert loaders[0].samples_per_epoch == 50
    per_rank: list[list[int]] = []
    for loader in loaders:
        starts = [s for b in take(loader, loader.batches_per_epoch or 0) for s in window_starts(b)]
        assert loader.epoch == 1 and loader.epoch_progress == 1.0
        per_rank.append(starts)
    assert len(per_rank[0]) == len(per_rank[1]) == 25
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == all_starts
    if not shuffle:
        assert per_rank[0] == all_starts[0::2]
    else:
        assert per_rank[0] != all_starts[0::2]
    # The final window ends exactly at the last token.
    assert all_starts[-1] + T + 1 == len(tokens)


def test_sliding_drop_last_gives_ranks_equal_full_batches(
    counting_dataset: tuple[Path, np.ndarray],
) -> None:
    path, _ = counting_dataset
    # T = 100, stride 100: starts 0..800 and 899 -> 10 windows; 3 ranks x batch 2.
    kwargs: dict[str, Any] = {
        "batch_size": 2,
        "context_length": 100,
        "mode": "sliding",
        "world_size": 3,
    }
    loaders = [TokenLoader(path, "train", rank=rank, **kwargs) for rank in range(3)]
    # 10 // 3 = 3 samples per rank -> 1 full batch each; the rest is dropped.
    assert [ld.batches_per_epoch for ld in loaders] == [1, 1, 1]
    assert loaders[0].samples_per_epoch == 6
    seen: list[int] = []
    for loader in loaders:
        epoch_batches = take(loader, 1)
        assert all(b.x.shape[0] == 2 for b in epoch_batches)
        assert loader.epoch == 1
        seen += [s for b in epoch_batches for s in window_starts(b)]
    assert len(set(seen)) == 6

    tails = [TokenLoader(path, "train", rank=r, drop_last=False, **kwargs) for r in range(3)]
    # 10 windows over 3 ranks: 4, 3, 3 samples -> batches of 2+2, 2+1, 2+1.
    assert [ld.batches_per_epoch for ld in tails] == [2, 2, 2]
    sizes = [[b.x.shape[0] for b in take(ld, 2)] for ld in tails]
    assert sizes == [[2, 2], [2, 1], [2, 1]]
    assert all(ld.epoch == 1 for ld in tails)


def test_sliding_epochs_roll_over_with_a_new_order(
    counting_dataset: tuple[Path, np.ndarray],
) -> None:
    path, _ = counting_dataset
    loader = TokenLoader(path, "train", batch_size=5, context_length=100, mode="sliding")
    assert loader.batches_per_epoch == 2
    epochs = [[s for b in take(loader, 2) for s in window_starts(b)] for _ in range(3)]
    assert loader.epoch == 3
    assert all(sorted(order) == [*range(0, 801, 100), 899] for order in epochs)
    assert epochs[0] != epochs[1]


# ---- document mode ----------------------------------------------------------------------------


def test_document_mode_pads_masks_and_truncates(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lengths = [5, 1, 12, 2, 9, 1, 30]  # EOS included; the two lone EOS are skipped
    stream = documents_stream(lengths, rng)
    path = make_dataset(tmp_path / "ds", {"train": split_into_shards(stream, [7, 20])})
    T = 10
    loader = TokenLoader(
        path, "train", batch_size=5, context_length=T, mode="document", shuffle=False
    )
    assert loader.batches_per_epoch == 1 and loader.samples_per_epoch == 5
    batch = loader.next_batch()
    assert batch.loss_mask is not None and batch.loss_mask.dtype == torch.float32
    usable = [n for n in lengths if n >= 2]
    ends = np.cumsum(lengths)
    doc_starts = [int(e - n) for e, n in zip(ends, lengths, strict=True) if n >= 2]
    for row, (length, start) in enumerate(zip(usable, doc_starts, strict=True)):
        targets = min(length - 1, T)
        mask = batch.loss_mask[row]
        assert mask[:targets].tolist() == [1.0] * targets
        assert mask[targets:].tolist() == [0.0] * (T - targets)
        np.testing.assert_array_equal(batch.x[row, :targets].numpy(), stream[start:][:targets])
        np.testing.assert_array_equal(batch.y[row, :targets].numpy(), stream[start + 1 :][:targets])
        assert (batch.x[row, targets:] == EOS_ID).all() and (batch.y[row, targets:] == EOS_ID).all()
        if length - 1 <= T:
            assert batch.y[row, targets - 1] == EOS_ID  # the last counted target is the EOS
            assert (batch.x[row, :targets] != EOS_ID).all()
        else:
            assert (batch.y[row] != EOS_ID).all()  # truncated: its EOS is cut off
    # Targets per usable document: 4, 11, 1, 8, 29; past T=10: 1 + 19 of 53.
    assert loader.share_past_context == pytest.approx(20 / 53)


def test_document_mode_custom_pad_and_rank_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    # Document i starts with token i, so x[:, 0] names the document.
    parts = [
        np.array([i, *rng.integers(1000, 2000, size=int(rng.integers(1, 14))), EOS_ID])
        for i in range(21)
    ]
    path = make_dataset(tmp_path / "ds", {"train": [np.concatenate(parts)]})
    kwargs: dict[str, Any] = {
        "batch_size": 4,
        "context_length": 8,
        "mode": "document",
        "world_size": 2,
        "pad_id": 7,
    }
    seen: list[set[int]] = []
    for rank in range(2):
        loader = TokenLoader(path, "train", rank=rank, **kwargs)
        assert loader.batches_per_epoch == 2  # 21 docs // 2 ranks = 10 -> 2 full batches of 4
        batches = take(loader, 2)
        assert loader.epoch == 1
        for b in batches:
            assert b.loss_mask is not None
            assert (b.x[b.loss_mask == 0] == 7).all() and (b.y[b.loss_mask == 0] == 7).all()
        seen.append({int(v) for b in batches for v in b.x[:, 0]})
    assert len(seen[0]) == len(seen[1]) == 8
    assert not seen[0] & seen[1]


def test_document_stream_without_final_eos_keeps_its_tail(tmp_path: Path) -> None:
    stream = np.array([1, 2, EOS_ID, 3, 4, 5])
    path = make_dataset(tmp_path / "ds", {"train": [stream]})
    loader = TokenLoader(
        path, "train", batch_size=2, context_length=4, mode="document", shuffle=False
    )
    batch = loader.next_batch()
    assert batch.y[0].tolist()[:2] == [2, EOS_ID]
    assert batch.x[1].tolist()[:2] == [3, 4] and batch.y[1].tolist()[:2] == [4, 5]
    assert batch.loss_mask is not None
    assert batch.loss_mask.sum(dim=1).tolist() == [2.0, 2.0]


# ---- resume -----------------------------------------------------------------------------------


def resume_matches(make: Any, before: int, after: int) -> None:
    """k batches, state through JSON into a fresh loader, m batches: same as never stopping."""
    uninterrupted = make()
    expected = take(uninterrupted, before + after)
    first = make()
    take(first, before)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.epoch_progress == pytest.approx(first.epoch_progress)
    assert_same_batches(take(resumed, after), expected[before:])


@pytest.mark.parametrize("mode", ["random", "sliding", "document"])
@pytest.mark.parametrize("where", ["start", "inside", "epoch_end", "next_epoch"])
def test_exact_resume_across_epoch_boundaries(tmp_path: Path, mode: str, where: str) -> None:
    rng = np.random.default_rng(4)
    stream = documents_stream([int(n) for n in rng.integers(1, 12, size=40)], rng)
    path = make_dataset(tmp_path / "ds", {"train": split_into_shards(stream, [100, 150])})

    def make() -> TokenLoader:
        return TokenLoader(
            path,
            "train",
            batch_size=3,
            context_length=16,
            mode=mode,
            stride=5,
            seed=9,
            rank=1,
            world_size=2,
            drop_last=False,
        )

    per_epoch = make().batches_per_epoch or 4
    before = {"start": 0, "inside": 2, "epoch_end": per_epoch, "next_epoch": per_epoch + 1}
    # The resumed loader crosses at least one more epoch boundary.
    resume_matches(make, before[where], per_epoch + 2)


def test_rank_zero_state_resumes_every_rank_in_lockstep(
    counting_dataset: tuple[Path, np.ndarray],
) -> None:
    path, _ = counting_dataset
    for mode in ("random", "sliding"):

        def make(rank: int, mode: str = mode) -> TokenLoader:
            return TokenLoader(
                path,
                "train",
                batch_size=2,
                context_length=20,
                mode=mode,
                rank=rank,
                world_size=2,
            )

        rank0, rank1, reference1 = make(0), make(1), make(1)
        take(rank0, 5)
        take(rank1, 5)
        rank1.load_state_dict(json.loads(json.dumps(rank0.state_dict())))
        expected = take(reference1, 8)[5:]
        assert_same_batches(take(rank1, 3), expected)


def test_incompatible_state_names_the_field(counting_dataset: tuple[Path, np.ndarray]) -> None:
    path, _ = counting_dataset
    base: dict[str, Any] = {"batch_size": 2, "context_length": 20, "mode": "sliding"}
    state = TokenLoader(path, "train", **base).state_dict()
    changes: dict[str, Any] = {
        "seed": {"seed": 1},
        "batch_size": {"batch_size": 3},
        "mode": {"mode": "random"},
        "world_size": {"world_size": 2},
        "context_length": {"context_length": 21},
        "stride": {"stride": 5},
        "shuffle": {"shuffle": False},
    }
    for field, change in changes.items():
        loader = TokenLoader(path, "train", **{**base, **change})
        with pytest.raises(DataError, match=f"{field}="):
            loader.load_state_dict(state)
    # Without lockstep (drop_last=False on several ranks) each rank needs its own state.
    unequal = {**base, "drop_last": False, "world_size": 2}
    saved = TokenLoader(path, "train", rank=0, **unequal).state_dict()
    with pytest.raises(DataError, match="rank="):
        TokenLoader(path, "train", rank=1, **unequal).load_state_dict(saved)
    with pytest.raises(CheckpointError):
        TokenLoader(path, "train", **base).load_state_dict({"format": "other"})
    with pytest.raises(CheckpointError):
        TokenLoader(path, "train", **base).load_state_dict({**state, "samples_in_epoch": 10**6})


def test_state_is_plain_json(counting_dataset: tuple[Path, np.ndarray]) -> None:
    path, _ = counting_dataset
    loader = TokenLoader(path, "train", batch_size=2, context_length=20)
    take(loader, 2)
    state = loader.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["batches_drawn"] == 2


# ---- properties -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    num_tokens=st.integers(2, 400),
    context_length=st.integers(1, 64),
    stride_fraction=st.floats(0.0, 1.0),
    batch_size=st.integers(1, 9),
    world_size=st.integers(1, 3),
    cut_fractions=st.lists(st.floats(0.0, 1.0), max_size=3),
    drop_last=st.booleans(),
)
def test_sliding_and_random_properties(
    num_tokens: int,
    context_length: int,
    stride_fraction: float,
    batch_size: int,
    world_size: int,
    cut_fractions: list[float],
    drop_last: bool,
) -> None:
    """In range always; with stride <= T and no drop, every position 1..N-1 is a target."""
    T = min(context_length, num_tokens - 1)
    stride = max(1, round(stride_fraction * T))
    tokens = np.arange(num_tokens, dtype=np.int64)
    cuts = [int(f * num_tokens) for f in cut_fractions]
    with tempfile.TemporaryDirectory() as tmp:
        path = make_dataset(Path(tmp), {"train": split_into_shards(tokens, cuts)})
        kwargs: dict[str, Any] = {"batch_size": batch_size, "context_length": T}
        random_loader = TokenLoader(path, "train", **kwargs)
        for batch in take(random_loader, 3):
            assert int(batch.y.max()) <= num_tokens - 1
            assert torch.equal(batch.y[:, :-1], batch.x[:, 1:])
            assert torch.equal(batch.y - batch.x, torch.ones_like(batch.x))
        targets: set[int] = set()
        for rank in range(world_size):
            try:
                loader = TokenLoader(
                    path,
                    "train",
                    mode="sliding",
                    stride=stride,
                    rank=rank,
                    world_size=world_size,
                    drop_last=drop_last,
                    **kwargs,
                )
            except DataError:
                last_start = num_tokens - T - 1
                windows = last_start // stride + 1 + (last_start % stride != 0)
                needed = batch_size if drop_last else 1
                assert windows // world_size < needed
                return
            batches = take(loader, loader.batches_per_epoch or 0)
            assert loader.epoch == 1 and loader.epoch_progress == 1.0
            for batch in batches:
                assert 0 < batch.x.shape[0] <= batch_size
                assert int(batch.x.min()) >= 0 and int(batch.y.max()) <= num_tokens - 1
                assert torch.equal(batch.y - batch.x, torch.ones_like(batch.x))
                targets.update(batch.y.flatten().tolist())
        if not drop_last:
            assert targets == set(range(1, num_tokens))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_land_on_the_cuda_device(tmp_path: Path) -> None:
    stream = documents_stream([5, 9, 3, 7], np.random.default_rng(5))
    path = make_dataset(tmp_path / "ds", {"train": [stream]})
    for mode in ("random", "document"):
        loader = TokenLoader(
            path, "train", batch_size=2, context_length=6, mode=mode, device="cuda"
        )
        batch = loader.next_batch()
        cpu = TokenLoader(path, "train", batch_size=2, context_length=6, mode=mode).next_batch()
        assert batch.x.device.type == "cuda" and batch.y.is_contiguous()
        assert torch.equal(batch.x.cpu(), cpu.x) and torch.equal(batch.y.cpu(), cpu.y)
        if batch.loss_mask is not None and cpu.loss_mask is not None:
            assert batch.loss_mask.device.type == "cuda"
            assert torch.equal(batch.loss_mask.cpu(), cpu.loss_mask)


# ---- one step's samples do not depend on how it is split over ranks --------------------------


@pytest.mark.parametrize("mode", ["random", "sliding"])
def test_step_samples_independent_of_ranks_and_accumulation(
    counting_dataset: tuple[Path, np.ndarray], mode: str
) -> None:
    path, _ = counting_dataset

    def step_starts(world_size: int, batch_size: int, accum: int, steps: int) -> list[list[int]]:
        loaders = [
            TokenLoader(
                path,
                "train",
                batch_size=batch_size,
                context_length=20,
                mode=mode,
                rank=rank,
                world_size=world_size,
            )
            for rank in range(world_size)
        ]
        out = []
        for _ in range(steps):
            batches = [loader.next_batch() for loader in loaders for _ in range(accum)]
            out.append(sorted(s for b in batches for s in window_starts(b)))
        return out

    single = step_starts(1, 8, 1, 12)
    assert step_starts(2, 4, 1, 12) == single
    assert step_starts(1, 4, 2, 12) == single
    assert step_starts(2, 2, 2, 12) == single
    assert step_starts(4, 2, 1, 12) == single
    # Each rank takes rows rank::world_size of the single-process batch (random mode).
    if mode == "random":
        whole = TokenLoader(path, "train", batch_size=8, context_length=20).next_batch()
        half = TokenLoader(path, "train", batch_size=4, context_length=20, rank=1, world_size=2)
        assert torch.equal(half.next_batch().x, whole.x[1::2])


@pytest.mark.parametrize("mode", ["random", "sliding"])
def test_state_resumes_with_another_world_size(
    counting_dataset: tuple[Path, np.ndarray], mode: str
) -> None:
    path, _ = counting_dataset
    kwargs: dict[str, Any] = {"context_length": 20, "mode": mode}
    ddp = [
        TokenLoader(path, "train", batch_size=4, rank=r, world_size=2, **kwargs) for r in range(2)
    ]
    single = TokenLoader(path, "train", batch_size=8, **kwargs)
    for loader in ddp:
        take(loader, 30)  # past an epoch in sliding mode (48 windows, 6 steps of 8)
    take(single, 30)
    resumed = TokenLoader(path, "train", batch_size=8, **kwargs)
    resumed.load_state_dict(json.loads(json.dumps(ddp[0].state_dict())))
    assert_same_batches(take(resumed, 5), take(single, 5))
    back = TokenLoader(path, "train", batch_size=4, rank=1, world_size=2, **kwargs)
    back.load_state_dict(resumed.state_dict())
    ddp[1].load_state_dict(ddp[0].state_dict())
    take(ddp[1], 5)  # to where `resumed` is
    assert_same_batches(take(back, 4), take(ddp[1], 4))
    # A position that is not a whole batch of the new loader is refused.
    odd = TokenLoader(path, "train", batch_size=3, **kwargs)
    with pytest.raises(DataError, match="batch_size="):
        odd.load_state_dict(
            TokenLoader(path, "train", batch_size=8, **kwargs).state_dict() | {"batches_drawn": 1}
        )
