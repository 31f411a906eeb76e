"""Documents -> filtered, tokenized token shards + meta.json, in parallel and in bounded memory.

`prepare()` streams documents from a source in batches, encodes the batches in a pool of worker
processes (each builds its own tokenizer once), filters documents by token count, appends EOS,
assigns each document to train or val and writes numbered shards into a temporary folder that is
renamed into place only when everything, meta.json last, is written.

This module checks the arguments, builds the tokenizer, runs the pipeline and writes meta.json;
batching and the worker pool are in prepare_encode.py, the shard writers in splits.py.

Trade-off: encoded batches come back strictly in input order with only a few in flight, so the
output is identical for any worker count and peak memory does not grow with the corpus, at the
price of a worker idling now and then behind a slow batch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any

from gptlab import __version__
from gptlab.data.meta import (
    DATASET_FORMAT,
    DATASET_FORMAT_VERSION,
    load_meta,
    verify_dataset,
)
from gptlab.data.prepare_encode import (
    DocumentSource,
    encode_documents,
    encoded_in_order,
    labelled_batches,
)
from gptlab.data.progress import CorpusProgress
from gptlab.data.shards import token_dtype
from gptlab.data.splits import (
    SPLIT_MODES,
    SPLITS,
    DatasetWriter,
    EncodedBatch,
    SplitCounts,
    SplitWriter,
    is_val_document,
    split_warnings,
    val_draw,
)
from gptlab.data.token_bytes import token_byte_lengths
from gptlab.errors import ConfigError, DataError
from gptlab.fileio import atomic_directory, atomic_write_json
from gptlab.outputs import DATASET, check_output

DEFAULT_OUT = Path("data")
"""`out=None` writes to DEFAULT_OUT / <source name>, e.g. data/builtin."""
BPE_TRAINING_BYTES = 100_000_000
"""A trained BPE sees at most this many bytes of train text (the merges saturate long before)."""


@dataclass
class PrepareResult:
    """Where the dataset went and what it holds."""

    out_dir: Path
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    elapsed_s: float = 0.0
    tokens_per_s: float = 0.0
    """Tokens written (both splits) per second of wall-clock time, tokenizer training included."""
    split: str = "documents"
    """How val was made: "source" (the source's own split), "documents" or "contiguous"."""
    val_source: str = ""
    """One line saying where the val split came from (also in meta.json)."""
    warnings: list[str] = field(default_factory=list)
    """Loud words about an empty or tiny split (also in meta.json)."""


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
    split: str = "auto",
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
    val_fraction: when the source has no val split, the share that goes to val (0: none).
        A source's own val split (also NAME.val.txt beside NAME.train.txt) is used as it is.
    split: how val is carved out of a source without one. "documents": each document goes to
        val by a stable hash of (seed, document index); if that draws none and at least two
        documents are kept, the last kept document goes to val. "contiguous": the last
        val_fraction of the train tokens become val (cut inside a document if need be).
        "auto" (default): contiguous when a single document is kept, else documents.
        PrepareResult.warnings (and meta.json) say when a split is empty or tiny.
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
    if split not in SPLIT_MODES:
        raise ConfigError(
            f"--split {split} is not one of {', '.join(SPLIT_MODES)}: 'documents' draws whole "
            "documents into val, 'contiguous' makes the last --val-fraction of the tokens val, "
            "'auto' picks contiguous for a single document."
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

    contiguous = split == "contiguous" and not has_val_split and val_fraction > 0
    start_s = time.perf_counter()
    bar = CorpusProgress(
        progress,
        "prepare",
        total_bytes=getattr(src, "num_bytes_hint", None),
        total_documents=getattr(src, "num_documents_hint", None),
    )
    with atomic_directory(out_dir, overwrite=overwrite) as tmp, bar:
        tok, training_info = _build_tokenizer(
            tokenizer, src, has_val_split, vocab_size, tokenizer_dir, bar
        )
        tok.save(tmp)
        spec = tok.spec()
        # Holding back the last kept train document lets it move to val if the draw left val empty.
        guarantee_val = not has_val_split and val_fraction > 0 and not contiguous
        dataset = DatasetWriter(
            tmp,
            tok.vocab_size,
            shard_tokens,
            min_tokens,
            max_tokens,
            guarantee_val,
            eos_id=tok.eos_id,
            byte_table=token_byte_lengths(tok),
        )
        bar.phase("encoding")
        try:
            batches = labelled_batches(
                src, has_val_split, 0.0 if contiguous else val_fraction, seed
            )
            for batch, encoded in encoded_in_order(batches, tok, spec, tmp, workers):
                dataset.add(batch.labels, encoded)
                bar.advance(len(batch.texts), int(encoded.text_bytes.sum()), encoded.tokens.size)
            single_document = dataset.kept_documents == 1
            if split == "auto" and single_document and not has_val_split and val_fraction > 0:
                contiguous = True
            shards = dataset.close(tail_fraction=val_fraction if contiguous else 0.0)
            counts = dataset.counts
            _check_kept(counts, min_tokens, max_tokens, source_label)
        except BaseException:
            dataset.abort()
            raise
        split_used = "source" if has_val_split else "contiguous" if contiguous else "documents"
        val_source = _val_source(split_used, split, val_fraction, single_document)
        warnings = split_warnings(counts, val_fraction, split_used, has_val_split)
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
            "val_source": val_source,
            "split": split_used,
            "warnings": warnings,
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
        split=split_used,
        val_source=val_source,
        warnings=warnings,
    )


def _val_source(split_used: str, asked: str, val_fraction: float, single_document: bool) -> str:
    """One line for meta.json and the terminal: where the val split came from."""
    if split_used == "source":
        return "the source's own val split"
    if val_fraction == 0:
        return "none (--val-fraction 0)"
    if split_used == "contiguous":
        why = " (the source is a single document)" if asked == "auto" and single_document else ""
        return f"the last {val_fraction:.0%} of the train tokens, contiguous{why}"
    return f"{val_fraction:.0%} of the documents, drawn by a hash of (seed, document index)"


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
    bar: CorpusProgress,
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
            bar.advance(1, size)
            yield text

    bar.phase(f"reading the text for the {name} tokenizer")
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


__all__ = [
    "DATASET_FORMAT",
    "DATASET_FORMAT_VERSION",
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
