"""A prepared split's tokens, read from its shards: counts, ranges and document spans.

A split is its shards' memmaps end to end (SplitTokens); a range that crosses a shard boundary is
gathered from both, so nothing is ever concatenated in memory. meta.json lists the shards in
order, and a shard whose token count disagrees with it is an error that names the shard.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.data.meta import load_meta
from gptlab.data.shards import open_shard, read_header
from gptlab.errors import DataError

EOS_SCAN_CHUNK_TOKENS = 16 * 1024 * 1024
"""Tokens compared against EOS at a time when indexing documents (bounds the scan's memory)."""


class SplitTokens:
    """The tokens of one split: its shards' memmaps end to end, read a range at a time.

    `len()`, `read(start, stop)` and slicing with step 1 (`tokens[a:b]`) work across shard
    boundaries and copy only the requested range; `np.asarray(tokens)` concatenates everything
    (only for small splits); `shards` are the memmaps themselves.
    """

    def __init__(self, shards: list[np.ndarray[Any, Any]]) -> None:
        self.shards = [shard for shard in shards if len(shard) > 0]
        self._ends: list[int] = []
        total = 0
        for shard in self.shards:
            total += len(shard)
            self._ends.append(total)
        self.num_tokens = total
        self.dtype: np.dtype[Any] = (
            np.result_type(*(shard.dtype for shard in self.shards))
            if self.shards
            else np.dtype(np.uint16)
        )

    def __len__(self) -> int:
        return self.num_tokens

    def read(
        self, start: int, stop: int, out: np.ndarray[Any, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        """Tokens [start, stop) as a fresh array (or written into `out`, which must fit them)."""
        if not 0 <= start <= stop <= self.num_tokens:
            raise IndexError(
                f"token range [{start}, {stop}) is outside the split's {self.num_tokens} tokens"
            )
        if out is None:
            out = np.empty(stop - start, dtype=self.dtype)
        shard_index = bisect.bisect_right(self._ends, start)
        filled = 0
        position = start
        while position < stop:
            shard_start = self._ends[shard_index] - len(self.shards[shard_index])
            take = min(stop, self._ends[shard_index]) - position
            local = position - shard_start
            out[filled : filled + take] = self.shards[shard_index][local : local + take]
            filled += take
            position += take
            shard_index += 1
        return out

    def __getitem__(self, key: slice) -> np.ndarray[Any, Any]:
        if not isinstance(key, slice):
            raise TypeError("SplitTokens supports slices only, e.g. tokens[a:b]")
        start, stop, step = key.indices(self.num_tokens)
        if step != 1:
            raise ValueError("SplitTokens slices must have step 1")
        return self.read(start, max(start, stop))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        whole = self.read(0, self.num_tokens)
        return whole if dtype is None else whole.astype(dtype)

    def take(self, positions: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The tokens at sorted positions (int64), gathered shard by shard without a loop per
        position."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty(len(positions), dtype=np.int64)
        start = 0
        for shard, end in zip(self.shards, self._ends, strict=True):
            lo, hi = np.searchsorted(positions, [end - len(shard), end])
            out[lo:hi] = shard[positions[lo:hi] - start]
            start = end
        return out

    def iter_chunks(self, chunk_tokens: int) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
        """(offset of the chunk's first token in the split, chunk) for consecutive chunks."""
        offset = 0
        for shard in self.shards:
            for local in range(0, len(shard), chunk_tokens):
                chunk = shard[local : local + chunk_tokens]
                yield offset + local, chunk
            offset += len(shard)


def _split_info(dataset_dir: Path, meta: dict[str, Any], split: str) -> dict[str, Any]:
    splits = meta.get("splits", {})
    if split not in splits:
        available = ", ".join(sorted(splits)) or "none"
        raise DataError(
            f"Dataset {dataset_dir} has no split {split!r} (it has: {available}). Prepare the "
            f"dataset again with `gptlab prepare SOURCE --out {dataset_dir}`."
        )
    info: dict[str, Any] = splits[split]
    return info


def _shard_paths(dataset_dir: str | Path, split: str) -> tuple[Path, dict[str, Any], list[Path]]:
    directory = Path(dataset_dir)
    meta = load_meta(directory)
    info = _split_info(directory, meta, split)
    paths = [directory / shard["file"] for shard in info.get("shards", [])]
    return directory, meta, paths


def count_tokens(dataset_dir: str | Path, split: str) -> int:
    """Number of tokens in a split, read from its shards' headers (no token is read)."""
    _, _, paths = _shard_paths(dataset_dir, split)
    return sum(read_header(path).num_tokens for path in paths)


def load_split_tokens(dataset_dir: str | Path, split: str) -> SplitTokens:
    """A split's tokens as one memmap-backed view of its shards, in meta.json's order."""
    _, meta, paths = _shard_paths(dataset_dir, split)
    shards = []
    listed = meta["splits"][split].get("shards", [])
    for path, entry in zip(paths, listed, strict=True):
        shard = open_shard(path)
        expected = entry.get("tokens")
        if expected is not None and int(expected) != len(shard):
            raise DataError(
                f"Shard {path} holds {len(shard)} tokens but meta.json lists {expected}: the "
                "dataset folder is inconsistent. Prepare the dataset again with `gptlab prepare`."
            )
        shards.append(shard)
    return SplitTokens(shards)


def document_spans(
    tokens: SplitTokens, eos_id: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(starts, lengths) of every document with at least one target: EOS included in its length.

    Tokens after the last EOS (not written by `gptlab prepare`) count as one more document.
    """
    eos_positions = [
        np.flatnonzero(chunk == eos_id) + offset
        for offset, chunk in tokens.iter_chunks(EOS_SCAN_CHUNK_TOKENS)
    ]
    ends = np.concatenate([*eos_positions, np.zeros(0, dtype=np.int64)]).astype(np.int64) + 1
    if len(ends) == 0 or ends[-1] != tokens.num_tokens:
        ends = np.append(ends, tokens.num_tokens)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1]])
    lengths = ends - starts
    # A lone EOS (or an empty tail) has no input token to predict it from.
    usable = lengths >= 2
    return starts[usable], lengths[usable]
