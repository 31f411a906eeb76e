"""Source documents -> encoded batches, in order: batching, the train/val label, the worker pool.

Documents are read in batches of one source split, each document labelled train or val, and the
batches are encoded in a pool of worker processes (each builds its own tokenizer once, from the
files saved in the dataset folder); prepare.py filters and writes what comes back.

Trade-off (the one prepare.py names): encoded batches are yielded strictly in input order, with
at most BATCHES_IN_FLIGHT_PER_WORKER per worker queued, so the output does not depend on the
worker count and memory does not grow with the corpus; a worker may idle behind a slow batch.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from gptlab.data.shards import token_dtype
from gptlab.data.splits import EncodedBatch, val_draw

DOCUMENTS_PER_BATCH = 2048
"""Documents sent to a worker at once: large enough to amortise the inter-process hop
(bench/prepare.py on 2 cores: 512 -> 2048 took GPT-2 prepare of 38 MB from 1.9 s to 1.5 s;
4096 was no faster and held more memory)."""
CHARACTERS_PER_BATCH = 4_000_000
"""A batch also ends at this many characters, so a few huge documents cannot blow up memory."""
BATCHES_IN_FLIGHT_PER_WORKER = 2
"""Batches queued per worker: enough to keep it busy, few enough to bound memory."""

_TRAIN, _VAL = 0, 1


class DocumentSource(Protocol):
    """What prepare() needs from a source (gptlab.data.sources.Source satisfies it)."""

    @property
    def name(self) -> str: ...

    def splits(self) -> list[str]: ...

    def documents(self, split: str) -> Iterator[str]: ...


def encode_documents(tokenizer: Any, texts: list[str]) -> EncodedBatch:
    """Encode documents with one EOS after each, as one flat array in the shard's dtype."""
    arrays = tokenizer.encode_arrays(texts)
    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    dtype = token_dtype(tokenizer.vocab_size)
    eos = np.array([tokenizer.eos_id], dtype=dtype)
    pieces = [piece for ids in arrays for piece in (ids, eos)]
    flat = np.concatenate(pieces, dtype=dtype, casting="unsafe") if pieces else eos[:0]
    text_bytes = np.fromiter(
        (len(t.encode("utf-8", "surrogatepass")) for t in texts), dtype=np.int64, count=len(texts)
    )
    return EncodedBatch(flat, lengths, text_bytes)


# ---------------------------------------------------------------------------------------------
# worker side: each process builds its tokenizer once, from the files saved in the dataset folder


_worker_tokenizer: Any = None
_worker_error: BaseException | None = None


def _init_worker(spec: dict[str, Any], directory: str) -> None:
    global _worker_tokenizer, _worker_error
    # Ctrl-C is handled by the parent, which terminates the pool; workers must not print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from gptlab.data.tokenizers import tokenizer_from_spec

        _worker_tokenizer = tokenizer_from_spec(spec, directory)
    except (
        BaseException
    ) as exc:  # re-raised on the first task: a failing initializer would respawn forever
        _worker_error = exc


def _encode_in_worker(texts: list[str]) -> EncodedBatch:
    if _worker_error is not None:
        raise _worker_error
    return encode_documents(_worker_tokenizer, texts)


# ---------------------------------------------------------------------------------------------
# batches in, encoded batches out, in order


class LabelledBatch(NamedTuple):
    """Documents of one source split, with a train or val label for each."""

    texts: list[str]
    labels: np.ndarray[Any, Any]  # _TRAIN or _VAL per document


def labelled_batches(
    source: DocumentSource, has_val_split: bool, val_fraction: float, seed: int
) -> Iterator[LabelledBatch]:
    """Documents of the source as batches, each document labelled train or val.

    A batch holds documents of one source split; without a val split in the source, train
    documents are drawn into val by val_draw on their index (val_fraction 0: all train).
    """
    hashed_val = not has_val_split and val_fraction > 0
    index = 0
    for split in ("train", "val") if has_val_split else ("train",):
        texts: list[str] = []
        characters = 0
        for text in source.documents(split):
            texts.append(text)
            characters += len(text)
            if len(texts) >= DOCUMENTS_PER_BATCH or characters >= CHARACTERS_PER_BATCH:
                yield _labelled(texts, split, index, hashed_val, val_fraction, seed)
                index += len(texts)
                texts, characters = [], 0
        if texts:
            yield _labelled(texts, split, index, hashed_val, val_fraction, seed)
            index += len(texts)


def _labelled(
    texts: list[str], split: str, start: int, hashed_val: bool, val_fraction: float, seed: int
) -> LabelledBatch:
    if split == "train" and hashed_val:
        is_val = val_draw(seed, start, len(texts), val_fraction)
    else:
        is_val = np.full(len(texts), split == "val")
    return LabelledBatch(texts, np.where(is_val, _VAL, _TRAIN).astype(np.int8))


def encoded_in_order(
    batches: Iterator[LabelledBatch],
    tokenizer: Any,
    spec: dict[str, Any],
    directory: Path,
    num_workers: int,
) -> Iterator[tuple[LabelledBatch, EncodedBatch]]:
    """Encode batches, in a process pool when there is more than one batch and one worker."""
    first = next(batches, None)
    second = next(batches, None) if first is not None else None
    if first is None:
        return
    if num_workers <= 1 or second is None:
        for batch in chain([first], [second] if second else [], batches):
            yield batch, encode_documents(tokenizer, batch.texts)
        return
    # forkserver/spawn: a forked copy of a parent holding threads (tokenizers, torch) can deadlock.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    pool = multiprocessing.get_context(method).Pool(
        num_workers, initializer=_init_worker, initargs=(spec, str(directory))
    )
    try:
        # apply_async with our own bounded queue: Pool.imap would read the whole source ahead.
        in_flight: deque[tuple[LabelledBatch, Any]] = deque()
        for batch in chain([first, second], batches):
            in_flight.append((batch, pool.apply_async(_encode_in_worker, (batch.texts,))))
            if len(in_flight) >= BATCHES_IN_FLIGHT_PER_WORKER * num_workers:
                done, result = in_flight.popleft()
                yield done, result.get()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
