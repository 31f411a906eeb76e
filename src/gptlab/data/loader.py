"""Prepared token shards -> (x, y[, loss_mask]) batches: random, sliding or one document per sample.

A window that crosses a shard boundary is gathered from both shards (split_tokens.py reads a
split's tokens; its public names are exported here too). Three ways to cut samples:

- random: each window start is uniform in [0, N - T - 1], a hash of (seed, global sample index);
  rank r's batch k holds the global samples r + world_size * (k * batch_size + j), so resuming
  needs only the batch count, and the samples of one step do not depend on how it is split over
  ranks and micro batches (2 ranks x 4 = 1 process x 8 = 1 process x 4 x 2 accumulation).
- sliding: starts 0, stride, 2*stride, ... plus one final window ending exactly at the last token
  when the stride does not land there, so with stride <= T every token is a target each epoch.
- document: one document (the tokens up to and including an EOS) per sample, truncated to T,
  padded with pad_id and masked.

Sliding and document epochs visit every sample once, in an order shuffled with (seed, epoch) that
is the same on every rank; rank r takes positions r, r + world_size, ... of that order.

Trade-off: with drop_last=True (the default, and what DDP needs) the last few samples of each
epoch that do not fill a batch on every rank are skipped; a different permutation each epoch means
a different few are skipped. With drop_last=False each rank also yields its smaller last batch, so
ranks may differ by one sample and one batch per epoch: use it for single-process passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from gptlab.config import BATCH_MODES
from gptlab.data.meta import load_meta
from gptlab.data.split_tokens import (
    EOS_SCAN_CHUNK_TOKENS,
    SplitTokens,
    count_tokens,
    document_spans,
    load_split_tokens,
)
from gptlab.errors import CheckpointError, ConfigError, DataError

__all__ = [
    "EOS_SCAN_CHUNK_TOKENS",
    "STATE_FORMAT",
    "STATE_VERSION",
    "Batch",
    "SplitTokens",
    "TokenLoader",
    "count_tokens",
    "document_spans",
    "load_split_tokens",
]

STATE_FORMAT = "gptlab-loader-state"
STATE_VERSION = 1
_COMPATIBILITY_FIELDS = (
    "mode",
    "split",
    "seed",
    "shuffle",
    "world_size",
    "batch_size",
    "context_length",
    "stride",
    "drop_last",
    "num_tokens",
)
"""State fields that must match the loader resuming from it: each one changes the data order."""


_MASK64 = (1 << 64) - 1
_GOLDEN64 = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """SplitMix64's finaliser: a bijection of uint64 that spreads each input bit over the output."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_samples(seed: int, sample_ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Uniform uint64 per (seed, sample id): a counter-based stream that any rank can index into.

    The modulo that maps it onto window starts is biased by at most N / 2**64, far below noise.
    """
    key = _mix64(np.array([seed & _MASK64], dtype=np.uint64))
    with np.errstate(over="ignore"):
        return _mix64(key + (sample_ids + np.uint64(1)) * _GOLDEN64)


class Batch(NamedTuple):
    """One batch of samples, already on the loader's device."""

    x: torch.Tensor
    """(B, T) int64 input token ids."""
    y: torch.Tensor
    """(B, T) int64 target ids: y[:, t] is the token after x[:, t]."""
    loss_mask: torch.Tensor | None
    """(B, T) float32, 1 where y is a real target and 0 on padding; None in random/sliding mode."""


class TokenLoader:
    """Endless batches from one split of a prepared dataset; resumable through state_dict()."""

    def __init__(
        self,
        dataset_dir: str | Path,
        split: str,
        *,
        batch_size: int,
        context_length: int,
        mode: str = "random",
        stride: int = 0,
        drop_last: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: str | torch.device = "cpu",
        pad_id: int | None = None,
    ) -> None:
        if mode not in BATCH_MODES:
            raise ConfigError(
                f"Unknown batch mode {mode!r}: choose one of {', '.join(BATCH_MODES)} "
                "(--set data.batch_mode=...)."
            )
        if batch_size <= 0:
            raise ConfigError(f"batch_size={batch_size} must be a positive number of samples.")
        if context_length <= 0:
            raise ConfigError(
                f"context_length={context_length} must be a positive number of tokens "
                "(--set model.context_length=...)."
            )
        if stride < 0:
            raise ConfigError(
                f"stride={stride} must be 0 (meaning the context length) or a positive number "
                "of tokens (--set data.stride=...)."
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(
                f"rank={rank} and world_size={world_size} are inconsistent: world_size must be "
                "at least 1 and rank between 0 and world_size - 1 (torchrun sets both)."
            )
        self.dataset_dir = Path(dataset_dir)
        self.split = split
        self.mode = mode
        self.batch_size = batch_size
        self.context_length = context_length
        self.stride = (stride or context_length) if mode == "sliding" else stride
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)

        meta = load_meta(self.dataset_dir)
        self.tokens = load_split_tokens(self.dataset_dir, split)
        self.num_tokens = len(self.tokens)
        eos_id = meta.get("eos_id")
        self.eos_id: int | None = None if eos_id is None else int(eos_id)
        self.pad_id = self._check_pad_id(pad_id, meta)

        T = context_length
        self._doc_starts = np.zeros(0, dtype=np.int64)
        self._doc_lengths = np.zeros(0, dtype=np.int64)
        self._last_window_start = self.num_tokens - T - 1
        if mode != "document" and self.num_tokens < T + 1:
            raise DataError(
                f"split {split!r} of {self.dataset_dir} has {self.num_tokens} tokens, but one "
                f"training window needs context_length + 1 = {T + 1} tokens: use a smaller "
                "context (--set model.context_length=...) or more data."
            )
        if mode == "sliding":
            # One extra window ends at the last token when the stride does not land on it.
            self._num_samples = self._last_window_start // self.stride + 1
            if self._last_window_start % self.stride:
                self._num_samples += 1
        elif mode == "document":
            if self.eos_id is None:
                raise DataError(
                    f"{self.dataset_dir / 'meta.json'} has no eos_id, which document mode needs "
                    "to find documents. Prepare the dataset again with `gptlab prepare`."
                )
            self._doc_starts, self._doc_lengths = document_spans(self.tokens, self.eos_id)
            self._num_samples = len(self._doc_starts)
            if self._num_samples == 0:
                raise DataError(
                    f"split {split!r} of {self.dataset_dir} has no document with at least one "
                    f"token before its EOS (id {self.eos_id}), so document mode has nothing to "
                    "train on. Use --set data.batch_mode=random or prepare more data."
                )
        else:
            self._num_samples = 0
        # The last rank has the fewest samples; every rank must have some or DDP would hang.
        if mode != "random" and self._rank_samples_per_epoch(world_size - 1) == 0:
            kind = "documents" if mode == "document" else "windows"
            if drop_last:
                need = (
                    f"one full batch per rank needs batch_size x world_size = {batch_size} x "
                    f"{world_size} = {batch_size * world_size}: use a smaller batch size "
                    "(--set train.micro_batch_size=...), --set data.drop_last=false, or more data."
                )
            else:
                need = (
                    f"each of the {world_size} ranks needs at least one: use fewer processes "
                    "or more data."
                )
            raise DataError(
                f"split {split!r} of {self.dataset_dir} gives only {self._num_samples} {kind}, "
                f"but {need}"
            )

        self._epoch = 0
        self._samples_in_epoch = 0
        self._batches_drawn = 0
        self._order_epoch = -1
        self._order: np.ndarray[Any, Any] | None = None

    def _check_pad_id(self, pad_id: int | None, meta: dict[str, Any]) -> int:
        resolved = pad_id if pad_id is not None else self.eos_id
        if resolved is None:
            return 0
        vocab_size = meta.get("vocab_size")
        if resolved < 0 or (vocab_size is not None and resolved >= int(vocab_size)):
            raise ConfigError(
                f"pad_id={resolved} is not a token id of this dataset's vocabulary "
                f"(0 to {vocab_size}): leave it unset to pad with EOS."
            )
        return int(resolved)

    # ---- sizes and progress -------------------------------------------------------------------

    def _rank_samples_per_epoch(self, rank: int) -> int:
        """Samples `rank` yields per epoch in sliding/document mode."""
        if self.drop_last:
            full_batches = (self._num_samples // self.world_size) // self.batch_size
            return full_batches * self.batch_size
        return len(range(rank, self._num_samples, self.world_size))

    @property
    def share_past_context(self) -> float:
        """Document mode: the share of the split's targets past the context, which are never
        read (a document is cut after its first T targets); 0.0 in the other modes."""
        if self.mode != "document" or not len(self._doc_lengths):
            return 0.0
        targets = self._doc_lengths - 1
        past = np.maximum(targets - self.context_length, 0)
        return float(past.sum() / targets.sum())

    @property
    def samples_per_epoch(self) -> int:
        """Samples all ranks together take per epoch; random mode: N // T, at least 1."""
        if self.mode == "random":
            return max(1, self.num_tokens // self.context_length)
        if self.drop_last:
            return self._rank_samples_per_epoch(0) * self.world_size
        return self._num_samples

    @property
    def batches_per_epoch(self) -> int | None:
        """Batches this rank yields per epoch; None in random mode, which has no epochs."""
        if self.mode == "random":
            return None
        per_rank = self._rank_samples_per_epoch(self.rank)
        return -(-per_rank // self.batch_size)

    @property
    def epoch_progress(self) -> float:
        """Epochs consumed, fractional; random mode: tokens drawn by all ranks / tokens in split."""
        if self.mode == "random":
            tokens_drawn = (
                self._batches_drawn * self.batch_size * self.world_size * self.context_length
            )
            return tokens_drawn / self.num_tokens
        return self._epoch + self._samples_in_epoch / self._rank_samples_per_epoch(self.rank)

    @property
    def epoch(self) -> int:
        """Completed epochs (random mode: whole epochs' worth of tokens drawn)."""
        if self.mode == "random":
            return int(self.epoch_progress)
        return self._epoch

    # ---- batches --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> Batch:
        """The next batch; sliding/document epochs roll over by themselves."""
        if self.mode == "random":
            first = self._batches_drawn * self.batch_size
            positions = np.arange(first, first + self.batch_size, dtype=np.uint64)
            sample_ids = np.uint64(self.rank) + np.uint64(self.world_size) * positions
            starts = _hash_samples(self.seed, sample_ids) % np.uint64(self._last_window_start + 1)
            self._batches_drawn += 1
            return self._windows(starts.astype(np.int64))
        sample_ids = self._next_sample_ids()
        self._batches_drawn += 1
        if self.mode == "sliding":
            return self._windows(np.minimum(sample_ids * self.stride, self._last_window_start))
        return self._documents(sample_ids)

    def _epoch_order(self) -> np.ndarray[Any, Any] | None:
        """This epoch's permutation of sample ids (the same on every rank); None when sequential."""
        if not self.shuffle:
            return None
        if self._order_epoch != self._epoch:
            rng = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence([self.seed, self._epoch]))
            )
            self._order = rng.permutation(self._num_samples)
            self._order_epoch = self._epoch
        return self._order

    def _next_sample_ids(self) -> np.ndarray[Any, Any]:
        per_rank = self._rank_samples_per_epoch(self.rank)
        first = self._samples_in_epoch
        last = min(first + self.batch_size, per_rank)
        positions = self.rank + self.world_size * np.arange(first, last, dtype=np.int64)
        order = self._epoch_order()
        sample_ids = positions if order is None else order[positions]
        if last == per_rank:
            self._epoch += 1
            self._samples_in_epoch = 0
        else:
            self._samples_in_epoch = last
        return sample_ids

    def _windows(self, starts: np.ndarray[Any, Any]) -> Batch:
        T = self.context_length
        rows = np.empty((len(starts), T + 1), dtype=np.int64)
        for row, start in zip(rows, starts.tolist(), strict=True):
            self.tokens.read(start, start + T + 1, out=row)
        x = np.ascontiguousarray(rows[:, :-1])
        y = np.ascontiguousarray(rows[:, 1:])
        return Batch(self._to_device(x), self._to_device(y), None)

    def _documents(self, doc_ids: np.ndarray[Any, Any]) -> Batch:
        T = self.context_length
        x = np.full((len(doc_ids), T), self.pad_id, dtype=np.int64)
        y = np.full((len(doc_ids), T), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(doc_ids), T), dtype=np.float32)
        for row, doc in enumerate(doc_ids.tolist()):
            start = int(self._doc_starts[doc])
            targets = min(int(self._doc_lengths[doc]) - 1, T)  # longer documents are truncated
            tokens = self.tokens.read(start, start + targets + 1)
            x[row, :targets] = tokens[:-1]
            y[row, :targets] = tokens[1:]
            mask[row, :targets] = 1.0
        return Batch(self._to_device(x), self._to_device(y), self._to_device(mask))

    def _to_device(self, array: np.ndarray[Any, Any]) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            # Pinned host memory lets the copy overlap with the previous step's compute.
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    # ---- resume ---------------------------------------------------------------------------------

    def _in_lockstep(self) -> bool:
        """Whether every rank is at the same position after each batch (so one state fits all)."""
        return self.mode == "random" or self.drop_last or self.world_size == 1

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is, as JSON-able values; restores it exactly via load_state_dict().

        When ranks move in lockstep (random mode, or drop_last=True) the position is the same on
        every rank, so the state saved by rank 0 resumes every rank.
        """
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "mode": self.mode,
            "split": self.split,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rank": self.rank,
            "world_size": self.world_size,
            "batch_size": self.batch_size,
            "context_length": self.context_length,
            "stride": self.stride,
            "drop_last": self.drop_last,
            "num_tokens": self.num_tokens,
            "epoch": self._epoch,
            "samples_in_epoch": self._samples_in_epoch,
            "batches_drawn": self._batches_drawn,
        }

    def _rescalable(self, state: dict[str, Any]) -> bool:
        """Whether a state saved with another world_size/batch_size maps onto this loader exactly.

        Random mode: when the samples drawn so far fill whole batches of this loader. Sliding and
        document modes: when both move in lockstep with the same samples per pass
        (batch_size x world_size), so epochs hold the same samples in the same order.
        """
        try:
            saved_ws, saved_batch = int(state["world_size"]), int(state["batch_size"])
            batches_drawn = int(state["batches_drawn"])
        except (KeyError, TypeError, ValueError):
            return False
        if (saved_ws, saved_batch) == (self.world_size, self.batch_size) or min(
            saved_ws, saved_batch
        ) < 1:
            return False
        current_pass = self.batch_size * self.world_size
        if self.mode == "random":
            return batches_drawn * saved_batch * saved_ws % current_pass == 0
        return (
            saved_batch * saved_ws == current_pass
            and bool(state.get("drop_last"))
            and self.drop_last
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state; DataError naming the field that would change the order."""
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise CheckpointError(
                "The saved data-loader state is not a gptlab loader state of version "
                f"{STATE_VERSION}: the checkpoint is corrupt or from another version. Start a "
                "new run, or resume from another checkpoint."
            )
        current = self.state_dict()
        fields = list(_COMPATIBILITY_FIELDS)
        if not self._in_lockstep():
            fields.append("rank")
        rescale = self._rescalable(state)
        if rescale:
            # Another split of the same samples over ranks: positions are converted below.
            fields = [f for f in fields if f not in ("world_size", "batch_size")]
        for field in fields:
            if state.get(field) != current[field]:
                raise DataError(
                    f"Cannot resume the {self.split!r} data loader: the saved state has "
                    f"{field}={state.get(field)!r} but this run has {field}={current[field]!r}, "
                    "which would change the order of the data. Resume with the run's own "
                    "config.toml and dataset (and the same number of processes), or start a "
                    "new run."
                )
        try:
            epoch = int(state["epoch"])
            samples_in_epoch = int(state["samples_in_epoch"])
            batches_drawn = int(state["batches_drawn"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"The saved data-loader state is incomplete ({exc}). The checkpoint is corrupt: "
                "resume from another checkpoint."
            ) from exc
        if rescale:
            saved_pass = int(state["batch_size"]) * int(state["world_size"])
            if self.mode == "random":
                batches_drawn = batches_drawn * saved_pass // (self.batch_size * self.world_size)
            else:
                samples_in_epoch = samples_in_epoch * int(state["world_size"]) // self.world_size
        per_rank = 0 if self.mode == "random" else self._rank_samples_per_epoch(self.rank)
        if min(epoch, samples_in_epoch, batches_drawn) < 0 or (
            self.mode != "random" and samples_in_epoch >= per_rank
        ):
            raise CheckpointError(
                f"The saved data-loader state is out of range (epoch {epoch}, sample "
                f"{samples_in_epoch} of {per_rank}). The checkpoint is corrupt: resume from "
                "another checkpoint."
            )
        self._epoch = epoch
        self._samples_in_epoch = samples_in_epoch
        self._batches_drawn = batches_drawn
