"""Where each document goes: train/val assignment and the writers of a split's shards.

Two ways to carve a val split out of a source that has none:
- by document ("documents"): each document goes to val by a stable coin flip on its index
  (val_draw), so val documents are whole and spread over the corpus;
- contiguous ("contiguous"): the last val_fraction of the train token stream, cut wherever that
  falls, becomes val, as nanoGPT's character-level preparation and the classic 90/10 or 80/20
  splits of one text do. It is the only useful split of a single document.

Trade-off: a contiguous split is decided when every token is known, so the train shards that hold
the tail are written twice (read back, cut, rewritten); everything before the cut is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gptlab.data.shards import ShardWriter, open_shard, write_shard
from gptlab.data.token_bytes import tokens_bytes
from gptlab.fileio import sha256_file

SPLITS = ("train", "val")
SPLIT_MODES = ("auto", "documents", "contiguous")
"""--split: auto (contiguous for a single document, else documents), documents, contiguous."""
DEFAULT_CONTEXT_TOKENS = 256
"""Context of the default model (the seed presets): a split shorter than one window of it plus
its target cannot give one full training or evaluation window."""
TINY_SHARE_OF_TRAIN = 0.01
"""A source's own val split under this share of the train tokens gets a warning: its loss is
noisy. A val split drawn by prepare is judged against what was asked (--val-fraction 0.01 draws
about 1%, more or less): a warning under half the asked share, or under TINY_DRAWN_SHARE."""
TINY_DRAWN_SHARE = 0.001


class EncodedBatch(NamedTuple):
    """A batch of documents after encoding: every document's ids followed by EOS, concatenated."""

    tokens: np.ndarray[Any, Any]
    """All ids of the batch, each document followed by one EOS id."""
    lengths: np.ndarray[Any, Any]
    """Tokens per document, EOS not counted (int64)."""
    text_bytes: np.ndarray[Any, Any]
    """UTF-8 bytes per document (int64)."""


@dataclass
class SplitCounts:
    """What happened to the documents of one split."""

    documents: int = 0
    """Documents kept (written to the shards)."""
    dropped_short: int = 0
    """Documents dropped for having fewer than min_tokens tokens."""
    dropped_long: int = 0
    """Documents dropped for having more than max_tokens tokens."""
    tokens: int = 0
    """Tokens written, one EOS per kept document included."""
    bytes: int = 0
    """UTF-8 bytes of the kept documents' text."""


class SplitWriter:
    """Writes one split's documents into shards <split>_000000.bin, <split>_000001.bin, ...

    Shards hold whole documents: a shard is closed when the next document would take it past
    shard_tokens (a single document longer than that gets a shard of its own). A split with no
    documents still gets one empty shard, so every dataset has train_000000.bin and val_000000.bin.
    """

    def __init__(self, directory: Path, split: str, vocab_size: int, shard_tokens: int) -> None:
        self.directory = directory
        self.split = split
        self.vocab_size = vocab_size
        self.shard_tokens = shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._writer: ShardWriter | None = None

    def write_documents(
        self, tokens: np.ndarray[Any, Any], doc_lengths: np.ndarray[Any, Any]
    ) -> None:
        """Append documents: `tokens` concatenated, `doc_lengths` their sizes with EOS."""
        ends = np.cumsum(doc_lengths)
        if ends.size and int(ends[-1]) != tokens.size:
            raise ValueError("doc_lengths do not add up to the number of tokens")
        first_doc = 0
        while first_doc < ends.size:
            writer = self._writer or self._open_shard()
            start = int(ends[first_doc - 1]) if first_doc else 0
            room = self.shard_tokens - writer.num_tokens
            stop_doc = int(np.searchsorted(ends, start + room, side="right"))
            if stop_doc <= first_doc:
                if writer.num_tokens:
                    self._close_shard()
                    continue
                stop_doc = first_doc + 1
            writer.write(tokens[start : int(ends[stop_doc - 1])])
            first_doc = stop_doc

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard; returns [{"file", "tokens", "sha256"}] for meta.json."""
        if self._writer is None and not self.shards:
            self._open_shard()
        if self._writer is not None:
            self._close_shard()
        return self.shards

    def abort(self) -> None:
        """Discard the shard being written."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None

    def _open_shard(self) -> ShardWriter:
        name = f"{self.split}_{len(self.shards):06d}.bin"
        self._writer = ShardWriter(self.directory / name, self.vocab_size)
        return self._writer

    def _close_shard(self) -> None:
        assert self._writer is not None
        writer, self._writer = self._writer, None
        writer.close()
        self.shards.append(
            {
                "file": writer.path.name,
                "tokens": writer.num_tokens,
                "sha256": sha256_file(writer.path),
            }
        )


_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def val_draw(seed: int, start: int, count: int, val_fraction: float) -> np.ndarray[Any, Any]:
    """Stable coin flips for documents start .. start+count-1: True goes to val.

    Each flip is a splitmix64 hash of (seed, index), so it depends neither on the filter
    settings, the worker count or the batch size nor on the Python process, and the same seed
    always carves out the same val documents. Vectorised: a batch costs microseconds.
    """
    base = np.uint64((seed * _GOLDEN + 0x632BE59BD9B4E019) & _MASK64)
    z = np.arange(start, start + count, dtype=np.uint64) + base
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z.astype(np.float64) < val_fraction * 2.0**64


def is_val_document(seed: int, index: int, val_fraction: float) -> bool:
    """val_draw for one document."""
    return bool(val_draw(seed, index, 1, val_fraction)[0])


class _HeldDocument(NamedTuple):
    tokens: np.ndarray[Any, Any]
    length: int  # EOS included
    text_bytes: int


class DatasetWriter:
    """Filters encoded batches by length and routes the kept documents to the split writers."""

    def __init__(
        self,
        directory: Path,
        vocab_size: int,
        shard_tokens: int,
        min_tokens: int,
        max_tokens: int,
        guarantee_val: bool,
        eos_id: int,
        byte_table: np.ndarray[Any, Any],
    ) -> None:
        self.directory = directory
        self.vocab_size = vocab_size
        self.eos_id = eos_id
        self.byte_table = byte_table
        """UTF-8 bytes per token id (for the bytes of a contiguous val split)."""
        self.writers = {
            name: SplitWriter(directory, name, vocab_size, shard_tokens) for name in SPLITS
        }
        self.counts = {name: SplitCounts() for name in SPLITS}
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.guarantee_val = guarantee_val
        self._held: _HeldDocument | None = None

    @property
    def kept_documents(self) -> int:
        """Documents kept so far in both splits, the one held back included."""
        return sum(c.documents for c in self.counts.values()) + (self._held is not None)

    def add(self, labels: np.ndarray[Any, Any], encoded: EncodedBatch) -> None:
        """Count, filter and write one batch (labels: _TRAIN or _VAL per document)."""
        short = encoded.lengths < self.min_tokens
        upper = self.max_tokens if self.max_tokens > 0 else np.iinfo(np.int64).max  # 0: no limit
        long = encoded.lengths > upper
        keep = ~short & ~long
        for label, name in enumerate(SPLITS):
            in_split = labels == label
            counts = self.counts[name]
            counts.dropped_short += int(np.count_nonzero(short & in_split))
            counts.dropped_long += int(np.count_nonzero(long & in_split))
            kept = keep & in_split
            if not kept.any():
                continue
            tokens = encoded.tokens[np.repeat(kept, encoded.lengths + 1)]
            lengths = encoded.lengths[kept] + 1
            text_bytes = encoded.text_bytes[kept]
            if self.guarantee_val and name == "train":
                if self._held is not None:
                    self._write_held("train")
                last = int(lengths[-1])
                self._held = _HeldDocument(tokens[-last:], last, int(text_bytes[-1]))
                tokens, lengths, text_bytes = tokens[:-last], lengths[:-1], text_bytes[:-1]
            self._write(name, tokens, lengths, int(text_bytes.sum()))

    def close(self, tail_fraction: float = 0.0) -> dict[str, list[dict[str, Any]]]:
        """Place the held document (val if the draw left val empty), finish every shard.

        tail_fraction > 0 (a contiguous split): the last tail_fraction of the train tokens, cut
        wherever that falls (inside a document too), become the val split; val must be empty.
        """
        if self._held is not None:
            val_is_empty = self.counts["val"].documents == 0
            self._write_held("val" if val_is_empty and self.counts["train"].documents else "train")
        train_shards = self.writers["train"].close()
        if tail_fraction > 0:
            train_shards = self._move_tail_to_val(train_shards, tail_fraction)
        return {"train": train_shards, "val": self.writers["val"].close()}

    def _move_tail_to_val(
        self, shards: list[dict[str, Any]], tail_fraction: float
    ) -> list[dict[str, Any]]:
        """Cut the train token stream at (1 - tail_fraction) and write the rest as val."""
        if self.counts["val"].tokens:
            raise ValueError("a contiguous split needs an empty val split")
        train, val = self.counts["train"], self.counts["val"]
        val_tokens = min(round(train.tokens * tail_fraction), train.tokens - 1)
        if val_tokens <= 0:
            return shards
        cut = train.tokens - val_tokens
        kept: list[dict[str, Any]] = []
        start = 0  # stream position of the shard's first token
        for shard in shards:
            path = self.directory / shard["file"]
            end = start + int(shard["tokens"])
            if end <= cut:
                kept.append(shard)
            else:
                tokens = np.array(open_shard(path))
                path.unlink()
                head, tail = tokens[: max(0, cut - start)], tokens[max(0, cut - start) :]
                if head.size:
                    write_shard(path, head, self.vocab_size)
                    kept.append(
                        {"file": path.name, "tokens": int(head.size), "sha256": sha256_file(path)}
                    )
                    # The document cut in two counts in both splits.
                    train.documents += int(tail.size > 0 and head[-1] != self.eos_id)
                tail_documents = int(np.count_nonzero(tail == self.eos_id))
                self.writers["val"].write_documents(tail, _document_lengths(tail, self.eos_id))
                tail_bytes = tokens_bytes(None, tail, self.byte_table)
                train.documents -= tail_documents
                train.tokens -= int(tail.size)
                train.bytes -= tail_bytes
                val.documents += tail_documents
                val.tokens += int(tail.size)
                val.bytes += tail_bytes
            start = end
        return kept

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()

    def _write_held(self, name: str) -> None:
        assert self._held is not None
        held, self._held = self._held, None
        self._write(name, held.tokens, np.array([held.length]), held.text_bytes)

    def _write(
        self,
        name: str,
        tokens: np.ndarray[Any, Any],
        lengths: np.ndarray[Any, Any],
        text_bytes: int,
    ) -> None:
        self.writers[name].write_documents(tokens, lengths)
        counts = self.counts[name]
        counts.documents += int(lengths.size)
        counts.tokens += int(tokens.size)
        counts.bytes += text_bytes


def _document_lengths(tokens: np.ndarray[Any, Any], eos_id: int) -> np.ndarray[Any, Any]:
    """Sizes of the pieces of `tokens` that end at an EOS (EOS included; a last piece may not)."""
    ends = np.flatnonzero(tokens == eos_id) + 1
    if ends.size == 0 or ends[-1] != tokens.size:
        ends = np.append(ends, tokens.size)
    return np.diff(np.concatenate([[0], ends])).astype(np.int64)


def split_warnings(
    counts: dict[str, SplitCounts], val_fraction: float, split: str, source_has_val: bool
) -> list[str]:
    """Loud words for a split that is empty or too small to be useful."""
    train, val = counts["train"], counts["val"]
    warnings = []
    if val.tokens == 0 and (val_fraction > 0 or source_has_val):
        fix = (
            "Use --split contiguous to make the last --val-fraction of the text the val split, "
            "or put NAME.val.txt beside NAME.train.txt and prepare NAME.train.txt."
            if split == "documents"
            else "Give a longer text, a larger --val-fraction, or your own val text as "
            "NAME.val.txt beside NAME.train.txt."
        )
        warnings.append(
            f"The val split is EMPTY ({train.documents:,} train document(s), "
            f"--val-fraction {val_fraction}): training will report no val loss. {fix}"
        )
    for name, split_counts in (("val", val), ("train", train)):
        if 0 < split_counts.tokens <= DEFAULT_CONTEXT_TOKENS:
            warnings.append(
                f"The {name} split holds only {split_counts.tokens:,} tokens, fewer than the "
                f"{DEFAULT_CONTEXT_TOKENS + 1} that one window of the default "
                f"{DEFAULT_CONTEXT_TOKENS}-token context needs (a window and its next-token "
                "targets): train with a shorter context (--preset tiny has 64, or --set "
                "model.context_length=N below the split's tokens) or give more text."
            )
    share = val.tokens / train.tokens if train.tokens else 0.0
    if split == "source":
        tiny = share < TINY_SHARE_OF_TRAIN
    else:  # drawn here: tiny when far below what was asked, or tiny whatever was asked
        tiny = share < 0.5 * val_fraction or share < TINY_DRAWN_SHARE
    if val.tokens and tiny:
        warnings.append(
            f"The val split holds {val.tokens:,} tokens, {share:.2%} of the train split's "
            f"{train.tokens:,}: its loss will be a noisy estimate. Raise --val-fraction for a "
            "steadier val loss."
        )
    return warnings
