"""Tokenizers behind one interface: GPT-2 BPE (tiktoken, offline), characters, bytes, trained BPE.

Every kind encodes ordinary text to ids, decodes ids back, names its end-of-text id, and saves
itself as tokenizer.json (+ a model file for a trained BPE) beside the shards it produced, so a
dataset or run folder always carries the tokenizer that made it. The GPT-2 ranks file is never
copied: it is found again at load time (argument, $GPTLAB_TOKENIZER_DIR, a remembered folder,
then tiktoken's own cache).

This module makes a tokenizer by name and loads a saved one; the interface is in
tokenizer_base.py and the kinds in tokenizer_gpt2.py, tokenizer_chars.py and tokenizer_bpe.py,
whose public names it exports, so `gptlab.data.tokenizers` is the one name to import from.

Trade-off: encode() treats the literal text "<|endoftext|>" as ordinary characters, so documents
cannot inject a boundary; the end-of-text id is only ever appended by the caller (prepare).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gptlab.data.tokenizer_base import (
    EOS_TEXT,
    TOKENIZER_FILE,
    TOKENIZER_FORMAT,
    TOKENIZER_FORMAT_VERSION,
    TOKENIZER_NAMES,
    Tokenizer,
)
from gptlab.data.tokenizer_bpe import BPE_MIN_VOCAB_SIZE, BPE_MODEL_FILE, BPETokenizer
from gptlab.data.tokenizer_chars import ByteTokenizer, CharTokenizer
from gptlab.data.tokenizer_gpt2 import (
    GPT2_EOS_ID,
    GPT2_PATTERN,
    GPT2_RANKS_FILE,
    GPT2_RANKS_SHA256,
    GPT2_VOCAB_SIZE,
    TOKENIZER_ENV,
    GPT2Tokenizer,
    gpt2_tokenizer,
)
from gptlab.errors import ConfigError, DataError

__all__ = [
    "BPE_MIN_VOCAB_SIZE",
    "BPE_MODEL_FILE",
    "EOS_TEXT",
    "GPT2_EOS_ID",
    "GPT2_PATTERN",
    "GPT2_RANKS_FILE",
    "GPT2_RANKS_SHA256",
    "GPT2_VOCAB_SIZE",
    "TOKENIZER_ENV",
    "TOKENIZER_FILE",
    "TOKENIZER_FORMAT",
    "TOKENIZER_FORMAT_VERSION",
    "TOKENIZER_NAMES",
    "BPETokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "GPT2Tokenizer",
    "Tokenizer",
    "gpt2_tokenizer",
    "load_tokenizer",
    "make_tokenizer",
    "tokenizer_from_spec",
]


def make_tokenizer(
    name: str,
    texts: Callable[[], Iterable[str]] | None = None,
    vocab_size: int | None = None,
    tokenizer_dir: str | Path | None = None,
) -> Tokenizer:
    """A tokenizer by name (gpt2, char, byte, bpe).

    texts: a callable returning a fresh iterable of documents; char learns its alphabet and bpe
        trains on it (required for both). vocab_size: bpe only. tokenizer_dir: gpt2 only, the
        folder with r50k_base.tiktoken (default: $GPTLAB_TOKENIZER_DIR, then tiktoken's cache).
    """
    if name not in TOKENIZER_NAMES:
        raise ConfigError(
            f"Unknown tokenizer {name!r}. Choose one of: {', '.join(TOKENIZER_NAMES)}."
        )
    if name == "gpt2":
        return gpt2_tokenizer(tokenizer_dir)
    if name == "byte":
        return ByteTokenizer()
    if texts is None:
        raise ConfigError(f"The {name} tokenizer is learned from a corpus; it needs texts.")
    if name == "char":
        return CharTokenizer.learn(texts())
    if not vocab_size:
        raise ConfigError(
            "A trained BPE tokenizer needs a vocabulary size: pass --vocab-size (for example 4096)."
        )
    return BPETokenizer.train(texts(), vocab_size)


def tokenizer_from_spec(spec: dict[str, Any], directory: str | Path) -> Tokenizer:
    """Rebuild a tokenizer from its spec() and the folder its save() wrote (tokenizer.json etc.)."""
    folder = Path(directory)
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in TOKENIZER_NAMES:
        raise DataError(
            f"The tokenizer description in {folder} names an unknown kind {kind!r} (known: "
            f"{', '.join(TOKENIZER_NAMES)}). It was written by another program or is damaged; "
            "prepare the data again."
        )
    tokenizer: Tokenizer
    if kind == "gpt2":
        tokenizer = gpt2_tokenizer(remembered_dir=_remembered_gpt2_dir(folder))
    elif kind == "byte":
        tokenizer = ByteTokenizer()
    elif kind == "char":
        characters = spec.get("characters")
        if not isinstance(characters, str):
            raise DataError(
                f"The char tokenizer in {folder} has no character list; prepare the data again."
            )
        tokenizer = CharTokenizer(characters)
    else:
        tokenizer = _load_bpe(spec, folder)
    for key in ("vocab_size", "eos_id"):
        if key in spec and spec[key] != getattr(tokenizer, key):
            raise DataError(
                f"The tokenizer in {folder} declares {key}={spec[key]} but rebuilds with "
                f"{key}={getattr(tokenizer, key)}: its files do not match. Prepare the data again."
            )
    return tokenizer


def _load_bpe(spec: dict[str, Any], folder: Path) -> BPETokenizer:
    path = folder / str(spec.get("file", BPE_MODEL_FILE))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"Cannot read the BPE model file {path} ({type(exc).__name__}). A trained BPE "
            "tokenizer needs the file its save() wrote beside tokenizer.json; copy the whole "
            "folder, or prepare the data again."
        ) from None
    expected = spec.get("sha256")
    if expected and hashlib.sha256(text.encode("utf-8")).hexdigest() != expected:
        raise DataError(
            f"The BPE model file {path} does not match its description (sha256 differs): it was "
            "changed or damaged. Prepare the data again."
        )
    try:
        return BPETokenizer.from_json(text)
    except Exception as exc:  # the tokenizers library raises its own error types for bad JSON
        raise DataError(
            f"The BPE model file {path} is corrupt ({exc}). Prepare the data again."
        ) from None


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / TOKENIZER_FILE
    if not path.is_file():
        raise DataError(
            f"No tokenizer file at {path}. A prepared dataset or run folder holds the "
            f"{TOKENIZER_FILE} that gptlab wrote; point at such a folder or prepare the data again."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DataError(
            f"The tokenizer file {path} cannot be read ({type(exc).__name__}: {exc}). It is "
            "damaged; prepare the data again or copy an intact folder."
        ) from None
    if not isinstance(record, dict) or record.get("format") != TOKENIZER_FORMAT:
        raise DataError(
            f'{path} is not a gptlab tokenizer file (no "format": "{TOKENIZER_FORMAT}"). '
            "Point at a folder written by gptlab prepare or gptlab train."
        )
    if record.get("format_version") != TOKENIZER_FORMAT_VERSION:
        raise DataError(
            f"{path} has tokenizer format version {record.get('format_version')!r}; this gptlab "
            f"reads version {TOKENIZER_FORMAT_VERSION}. Prepare the data again with this version."
        )
    if not isinstance(record.get("spec"), dict):
        raise DataError(f"{path} has no tokenizer spec; prepare the data again.")
    return record


def _remembered_gpt2_dir(folder: Path) -> str | None:
    """The folder where a saved GPT-2 tokenizer found its ranks file, when that is recorded."""
    try:
        record = json.loads((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    hint = record.get("gpt2_ranks_dir") if isinstance(record, dict) else None
    return hint if isinstance(hint, str) else None


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The tokenizer saved in `directory` (its tokenizer.json); DataError naming the file if bad."""
    folder = Path(directory)
    record = _read_record(folder)
    return tokenizer_from_spec(record["spec"], folder)
