"""Documents -> filtered, tokenized token shards + meta.json, in parallel and in bounded memory.

`prepare()` streams documents from a source in batches, encodes the batches in a pool of worker
processes (each builds its own tokenizer once), filters documents by token count, appends EOS,
assigns each document to train or val and writes numbered shards into a temporary folder that is
renamed into place only when everything, meta.json last, is written.

Trade-off: results come back strictly in input order and only a few batches are in flight at a
time. That keeps the output identical for any worker count and peak memory independent of the
corpus size, at the price of a worker idling now and then behind a slow batch.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gptlab import __version__
from gptlab.data.meta import DatasetMeta
from gptlab.data.shards import ShardWriter, read_header, token_dtype
from gptlab.errors import ConfigError, DataError
from gptlab.fileio import atomic_directory, atomic_write_json, sha256_file
from gptlab.jsonio import read_json_file
from gptlab.outputs import DATASET, check_output

DATASET_FORMAT = "gptlab-dataset"
DATASET_FORMAT_VERSION = 1
SPLITS = ("train", "val")
DEFAULT_OUT = Path("data")
"""`out=None` writes to DEFAULT_OUT / <source name>, e.g. data/builtin."""
DOCUMENTS_PER_BATCH = 2048
"""Documents sent to a worker at once: large enough to amortise the inter-process hop
(bench/prepare.py on 2 cores: 512 -> 2048 took GPT-2 prepare of 38 MB from 1.9 s to 1.5 s;
4096 was no faster and held more memory)."""
CHARACTERS_PER_BATCH = 4_000_000
"""A batch also ends at this many characters, so a few huge documents cannot blow up memory."""
BATCHES_IN_FLIGHT_PER_WORKER = 2
"""Batches queued per worker: enough to keep it busy, few enough to bound memory."""
BPE_TRAINING_BYTES = 100_000_000
"""A trained BPE sees at most this many bytes of train text (the merges saturate long before)."""

_TRAIN, _VAL = 0, 1


class DocumentSource(Protocol):
    """What prepare() needs from a source (gptlab.data.sources.Source satisfies it)."""

    @property
    def name(self) -> str: ...

    def splits(self) -> list[str]: ...

    def documents(self, split: str) -> Iterator[str]: ...


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


@dataclass
class PrepareResult:
    """Where the dataset went and what it holds."""

    out_dir: Path
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    elapsed_s: float = 0.0
    tokens_per_s: float = 0.0
    """Tokens written (both splits) per second of wall-clock time, tokenizer training included."""


class EncodedBatch(NamedTuple):
    """A batch of documents after encoding: every document's ids followed by EOS, concatenated."""

    tokens: np.ndarray[Any, Any]
    """All ids of the batch, each document followed by one EOS id."""
    lengths: np.ndarray[Any, Any]
    """Tokens per document, EOS not counted (int64)."""
    text_bytes: np.ndarray[Any, Any]
    """UTF-8 bytes per document (int64)."""


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
# the pipeline


class _Batch(NamedTuple):
    texts: list[str]
    labels: np.ndarray[Any, Any]  # _TRAIN or _VAL per document


def _batches(
    source: DocumentSource, has_val_split: bool, val_fraction: float, seed: int
) -> Iterator[_Batch]:
    """Documents of the source as batches, each document labelled train or val.

    A batch holds documents of one source split; without a val split in the source, train
    documents are drawn into val by val_draw on their index.
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
) -> _Batch:
    if split == "train" and hashed_val:
        is_val = val_draw(seed, start, len(texts), val_fraction)
    else:
        is_val = np.full(len(texts), split == "val")
    return _Batch(texts, np.where(is_val, _VAL, _TRAIN).astype(np.int8))


def _encoded_in_order(
    batches: Iterator[_Batch],
    tokenizer: Any,
    spec: dict[str, Any],
    directory: Path,
    num_workers: int,
) -> Iterator[tuple[_Batch, EncodedBatch]]:
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
        in_flight: deque[tuple[_Batch, Any]] = deque()
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


class _HeldDocument(NamedTuple):
    tokens: np.ndarray[Any, Any]
    length: int  # EOS included
    text_bytes: int


class _DatasetWriter:
    """Filters encoded batches by length and routes the kept documents to the split writers."""

    def __init__(
        self,
        directory: Path,
        vocab_size: int,
        shard_tokens: int,
        min_tokens: int,
        max_tokens: int,
        guarantee_val: bool,
    ) -> None:
        self.writers = {
            name: SplitWriter(directory, name, vocab_size, shard_tokens) for name in SPLITS
        }
        self.counts = {name: SplitCounts() for name in SPLITS}
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.guarantee_val = guarantee_val
        self._held: _HeldDocument | None = None

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

    def close(self) -> dict[str, list[dict[str, Any]]]:
        """Place the held document (val if the draw left val empty), finish every shard."""
        if self._held is not None:
            val_is_empty = self.counts["val"].documents == 0
            self._write_held("val" if val_is_empty and self.counts["train"].documents else "train")
        return {name: writer.close() for name, writer in self.writers.items()}

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


def prepare(
    source: str | DocumentSource,
    out: str | Path | None = None,
    *,
    tokenizer: str = "gpt2",
    vocab_size: int | None = None,
    tokenizer_dir: str | Path | None = None,
    min_tokens: int = 0,
    max_tokens: int = 0,
    val_fraction: float = 0.01,
    seed: int = 0,
    shard_tokens: int = 100_000_000,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **source_options: Any,
) -> PrepareResult:
    """Tokenize a source into a dataset folder (shards, tokenizer files, meta.json).

    source: a spec for gptlab.data.sources.open_source ("builtin", a file or folder, a hub
        dataset name) or an object with .name, .splits() and .documents(split).
    out: the dataset folder; None means data/<source name>. It must not exist unless overwrite.
    tokenizer: gpt2 (offline files from tokenizer_dir or $GPTLAB_TOKENIZER_DIR), byte, char
        (alphabet read from the source first) or bpe (trained on the train text, vocab_size ids).
    min_tokens / max_tokens: keep a document only if min_tokens <= its tokens (EOS not counted)
        and, when max_tokens > 0, its tokens <= max_tokens.
    val_fraction: when the source has no val split, the share of documents that go to val, drawn
        by a stable hash of (seed, document index). If that draws no document at all (a tiny
        corpus) and at least two documents are kept, the last kept document goes to val, so val is
        never empty by bad luck. A source's own val split is used as it is.
    seed: for the val draw and, passed on to the source, for the built-in corpus.
    shard_tokens: a shard is closed before the document that would take it past this many tokens.
    num_workers: encoding processes (default: all CPUs); 1, or a source of one batch, encodes
        in this process. The output is identical for any number of workers.
    source_options: passed to open_source (text_field, split_mode, encoding, errors,
        builtin_stories, streaming, hub_config).
    """
    _check_arguments(
        tokenizer, vocab_size, min_tokens, max_tokens, val_fraction, shard_tokens, num_workers
    )
    if isinstance(source, str):
        from gptlab.data.sources import open_source

        src: DocumentSource = open_source(source, seed=seed, **source_options)
        source_label = source
    else:
        src = source
        source_label = src.name
    out_dir = Path(out) if out is not None else DEFAULT_OUT / src.name
    check_output(
        out_dir,
        DATASET,
        overwrite=overwrite,
        inputs=[
            Path(source) if isinstance(source, str) else None,
            Path(tokenizer_dir) if tokenizer_dir is not None else None,
        ],
    )
    if out_dir.exists() and not overwrite:
        raise DataError(
            f"The output folder {out_dir} already exists. Choose another --out, or pass "
            "--overwrite to replace it (the old folder stays intact until the new one is complete)."
        )
    splits = src.splits()
    if "train" not in splits:
        raise DataError(
            f"The source {source_label!r} has no train split (it has: "
            f"{', '.join(splits) or 'none'}). Point prepare at a source with a train split."
        )
    has_val_split = "val" in splits
    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)

    start_s = time.perf_counter()
    with atomic_directory(out_dir, overwrite=overwrite) as tmp, _Progress(progress) as bar:
        tok, training_info = _build_tokenizer(
            tokenizer, src, has_val_split, vocab_size, tokenizer_dir, bar
        )
        tok.save(tmp)
        spec = tok.spec()
        # Holding back the last kept train document lets it move to val if the draw left val empty.
        guarantee_val = not has_val_split and val_fraction > 0
        dataset = _DatasetWriter(
            tmp, tok.vocab_size, shard_tokens, min_tokens, max_tokens, guarantee_val
        )
        bar.start_encoding()
        try:
            batches = _batches(src, has_val_split, val_fraction, seed)
            for batch, encoded in _encoded_in_order(batches, tok, spec, tmp, workers):
                dataset.add(batch.labels, encoded)
                bar.advance(len(batch.texts), int(encoded.tokens.size))
            shards = dataset.close()
            counts = dataset.counts
            _check_kept(counts, min_tokens, max_tokens, source_label)
        except BaseException:
            dataset.abort()
            raise
        elapsed_s = time.perf_counter() - start_s
        meta = {
            "format": DATASET_FORMAT,
            "format_version": DATASET_FORMAT_VERSION,
            "source": source_label,
            "source_description": getattr(src, "description", src.name),
            "source_options": {k: _jsonable(v) for k, v in sorted(source_options.items())},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "gptlab_version": __version__,
            "tokenizer": spec,
            "tokenizer_training": training_info,
            "vocab_size": tok.vocab_size,
            "eos_id": tok.eos_id,
            "token_dtype": token_dtype(tok.vocab_size).name,
            "filter": {"min_tokens": min_tokens, "max_tokens": max_tokens},
            "val_fraction": val_fraction,
            "val_source": "source split" if has_val_split else "hash of (seed, document index)",
            "seed": seed,
            "shard_tokens": shard_tokens,
            "elapsed_s": round(elapsed_s, 3),
            "splits": {name: {**asdict(counts[name]), "shards": shards[name]} for name in SPLITS},
        }
        atomic_write_json(tmp / "meta.json", meta)
    total_tokens = sum(c.tokens for c in counts.values())
    return PrepareResult(
        out_dir=out_dir,
        splits=counts,
        elapsed_s=elapsed_s,
        tokens_per_s=total_tokens / elapsed_s if elapsed_s > 0 else 0.0,
    )


def _check_arguments(
    tokenizer: str,
    vocab_size: int | None,
    min_tokens: int,
    max_tokens: int,
    val_fraction: float,
    shard_tokens: int,
    num_workers: int | None,
) -> None:
    from gptlab.data.tokenizers import TOKENIZER_NAMES

    if tokenizer not in TOKENIZER_NAMES:
        raise ConfigError(
            f"Unknown tokenizer {tokenizer!r}. Choose one of: {', '.join(TOKENIZER_NAMES)}."
        )
    if tokenizer == "bpe" and not vocab_size:
        raise ConfigError(
            "A trained BPE tokenizer needs a vocabulary size: pass --vocab-size (for example 4096)."
        )
    if vocab_size is not None and tokenizer != "bpe":
        raise ConfigError(
            f"--vocab-size applies only to --tokenizer bpe; the {tokenizer} tokenizer has a fixed "
            "vocabulary. Drop --vocab-size or use --tokenizer bpe."
        )
    if vocab_size is not None and vocab_size <= 0:
        raise ConfigError(f"vocab_size={vocab_size} must be positive (for example 4096).")
    if min_tokens < 0 or max_tokens < 0:
        raise ConfigError(
            f"min_tokens={min_tokens} and max_tokens={max_tokens} must be >= 0 (0 means no limit)."
        )
    if max_tokens > 0 and min_tokens > max_tokens:
        raise ConfigError(
            f"min_tokens={min_tokens} is larger than max_tokens={max_tokens}, so every document "
            "would be dropped. Lower --min-tokens or raise --max-tokens (0 means no upper limit)."
        )
    if not 0.0 <= val_fraction <= 0.5:
        raise ConfigError(
            f"val_fraction={val_fraction} must be between 0 and 0.5 (for example 0.01 for 1%)."
        )
    if shard_tokens <= 0:
        raise ConfigError(f"shard_tokens={shard_tokens} must be positive (default 100,000,000).")
    if num_workers is not None and num_workers < 1:
        raise ConfigError(f"num_workers={num_workers} must be at least 1 (1 means no pool).")


def _build_tokenizer(
    name: str,
    src: DocumentSource,
    has_val_split: bool,
    vocab_size: int | None,
    tokenizer_dir: str | Path | None,
    bar: _Progress,
) -> tuple[Any, dict[str, Any] | None]:
    """Make the tokenizer; char and bpe first read the source once to learn their vocabulary."""
    from gptlab.data.tokenizers import make_tokenizer

    if name not in ("char", "bpe"):
        return make_tokenizer(name, tokenizer_dir=tokenizer_dir), None
    info: dict[str, Any] = {"documents": 0, "bytes": 0, "byte_limit": None, "splits": ["train"]}

    def texts() -> Iterable[str]:
        info["documents"] = info["bytes"] = 0
        if name == "char":
            # Every split: a character met only in val must still have an id.
            info["splits"] = ["train", "val"] if has_val_split else ["train"]
            docs: Iterable[str] = chain.from_iterable(src.documents(s) for s in info["splits"])
        else:
            info["byte_limit"] = BPE_TRAINING_BYTES
            docs = src.documents("train")
        for text in docs:
            size = len(text.encode("utf-8", "surrogatepass"))
            if name == "bpe" and info["bytes"] + size > BPE_TRAINING_BYTES and info["documents"]:
                return
            info["documents"] += 1
            info["bytes"] += size
            yield text

    bar.training(name)
    return make_tokenizer(name, texts=texts, vocab_size=vocab_size), info


def _check_kept(
    counts: dict[str, SplitCounts], min_tokens: int, max_tokens: int, source_label: str
) -> None:
    kept = sum(c.documents for c in counts.values())
    dropped_short = sum(c.dropped_short for c in counts.values())
    dropped_long = sum(c.dropped_long for c in counts.values())
    if kept == 0 and dropped_short + dropped_long == 0:
        raise DataError(
            f"The source {source_label!r} produced no documents. Check the path, --text-field "
            "and --split-mode."
        )
    if counts["train"].documents == 0:
        limit = f"max_tokens={max_tokens}" if max_tokens else "no max_tokens"
        raise DataError(
            f"Every train document was filtered out ({dropped_short} shorter than "
            f"min_tokens={min_tokens}, {dropped_long} longer than {limit}; {kept} kept in val). "
            "Loosen --min-tokens / --max-tokens."
        )


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class _Progress:
    """A rich progress line on stderr with documents, tokens and tokens/s; silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None
        self._documents = 0
        self._tokens = 0
        self._start_s = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[documents]:>12,} documents"),
                TextColumn("{task.fields[tokens]:>14,} tokens"),
                TextColumn("{task.fields[rate]:>12,.0f} tokens/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "prepare", total=None, documents=0, tokens=0, rate=0.0
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def training(self, name: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"training {name} tokenizer")

    def start_encoding(self) -> None:
        self._start_s = time.perf_counter()
        if self._progress is not None:
            self._progress.update(self._task, description="encoding")

    def advance(self, documents: int, tokens: int) -> None:
        self._documents += documents
        self._tokens += tokens
        if self._progress is not None:
            rate = self._tokens / max(time.perf_counter() - self._start_s, 1e-9)
            self._progress.update(
                self._task, documents=self._documents, tokens=self._tokens, rate=rate
            )


# ---------------------------------------------------------------------------------------------
# reading a prepared dataset's description back


def load_meta(dataset_dir: str | Path) -> dict[str, Any]:
    """meta.json of a prepared dataset folder; DataError when it is missing or not ours."""
    directory = Path(dataset_dir)
    if directory.exists() and not directory.is_dir():
        raise DataError(
            f"{directory} is a file, but a prepared dataset is a folder (with meta.json and "
            "the shards). Give the folder made by `gptlab prepare`."
        )
    if not directory.is_dir():
        raise DataError(
            f"Dataset folder {directory} does not exist. Make one with "
            f"`gptlab prepare SOURCE --out {directory}`."
        )
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise DataError(
            f"{directory} is not a prepared dataset (no meta.json). Make one with "
            f"`gptlab prepare SOURCE --out {directory}`."
        )
    meta = read_json_file(meta_path, fix="Prepare the dataset again with `gptlab prepare`.")
    if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
        raise DataError(
            f"{meta_path} is not a gptlab dataset description. Prepare the dataset again with "
            "`gptlab prepare`."
        )
    if meta.get("format_version") != DATASET_FORMAT_VERSION:
        raise DataError(
            f"{meta_path} has dataset format version {meta.get('format_version')}; this gptlab "
            f"reads version {DATASET_FORMAT_VERSION}. Prepare the dataset again with "
            "`gptlab prepare`."
        )
    DatasetMeta.parse(meta, meta_path)  # every field its readers use, checked once here
    return meta


def verify_dataset(dataset_dir: str | Path) -> None:
    """Check every shard's header, size and sha256 against meta.json; DataError naming the file."""
    directory = Path(dataset_dir)
    meta = load_meta(directory)
    for split, info in meta.get("splits", {}).items():
        for shard in info.get("shards", []):
            path = directory / shard["file"]
            if not path.is_file():
                raise DataError(
                    f"Shard {path} listed in meta.json ({split} split) is missing. "
                    "Prepare the dataset again with `gptlab prepare`."
                )
            header = read_header(path)
            if header.num_tokens != shard["tokens"]:
                raise DataError(
                    f"Shard {path} holds {header.num_tokens} tokens but meta.json says "
                    f"{shard['tokens']}. Prepare the dataset again with `gptlab prepare`."
                )
            if sha256_file(path) != shard["sha256"]:
                raise DataError(
                    f"Shard {path} is corrupt: its sha256 does not match meta.json. "
                    "Prepare the dataset again with `gptlab prepare`."
                )


__all__ = [
    "DEFAULT_OUT",
    "DocumentSource",
    "EncodedBatch",
    "PrepareResult",
    "SplitCounts",
    "SplitWriter",
    "encode_documents",
    "is_val_document",
    "load_meta",
    "prepare",
    "val_draw",
    "verify_dataset",
]
