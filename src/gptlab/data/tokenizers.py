"""Tokenizers behind one interface: GPT-2 BPE (tiktoken, offline), characters, bytes, trained BPE.

Every kind encodes ordinary text to ids, decodes ids back, names its end-of-text id, and saves
itself as tokenizer.json (+ a model file for a trained BPE) beside the shards it produced, so a
dataset or run folder always carries the tokenizer that made it. The GPT-2 ranks file is never
copied: it is found again at load time (argument, $GPTLAB_TOKENIZER_DIR, a remembered folder,
then tiktoken's own cache).

Trade-off: encode() treats the literal text "<|endoftext|>" as ordinary characters, so documents
cannot inject a boundary; the end-of-text id is only ever appended by the caller (prepare).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gptlab.errors import ConfigError, DataError
from gptlab.fileio import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    import tiktoken
    from tokenizers import Tokenizer as HFTokenizer

TOKENIZER_NAMES = ("gpt2", "char", "byte", "bpe")
TOKENIZER_ENV = "GPTLAB_TOKENIZER_DIR"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_FORMAT = "gptlab-tokenizer"
TOKENIZER_FORMAT_VERSION = 1
EOS_TEXT = "<|endoftext|>"

GPT2_RANKS_FILE = "r50k_base.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_VOCAB_SIZE = 50257
GPT2_EOS_ID = 50256
# The pre-tokenizer split of GPT-2: contractions, letter runs, digit runs, other symbols, spaces.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

BPE_MODEL_FILE = "bpe.json"
# A byte-level BPE must hold the 256 byte symbols and the end-of-text token.
BPE_MIN_VOCAB_SIZE = 257


class Tokenizer(ABC):
    """Text <-> ids. `kind` is one of TOKENIZER_NAMES; ids are 0..vocab_size-1."""

    kind: str

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, the end-of-text id included."""

    @property
    @abstractmethod
    def eos_id(self) -> int:
        """The id appended after every document."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ordinary text; a literal "<|endoftext|>" in it is encoded as plain characters."""

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """encode() of each text, in order (kinds with a native batch path override this)."""
        return [self.encode(text) for text in texts]

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray[Any, Any]]:
        """encode_batch() as one integer array per text (kinds that make arrays natively
        override this, skipping the Python lists)."""
        return [np.asarray(ids, dtype=np.int64) for ids in self.encode_batch(texts)]

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids; eos_id reads "<|endoftext|>", invalid bytes and unknown ids read U+FFFD."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON-able description with "kind", "vocab_size" and "eos_id"; no machine-local paths."""

    def save(self, directory: str | Path) -> None:
        """Write tokenizer.json (and any file the kind needs) into `directory`."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_files(folder)
        record = {
            "format": TOKENIZER_FORMAT,
            "format_version": TOKENIZER_FORMAT_VERSION,
            "spec": self.spec(),
            **self._local_hints(),
        }
        atomic_write_json(folder / TOKENIZER_FILE, record)

    def _save_files(self, directory: Path) -> None:  # noqa: B027 (optional hook, not abstract)
        """Write the files beside tokenizer.json that this kind needs (none by default)."""

    def _local_hints(self) -> dict[str, Any]:
        """Extra tokenizer.json fields that help on this machine only (not part of spec)."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind} vocab_size={self.vocab_size}>"


# ------------------------------------------------------------------------------ GPT-2 (tiktoken)


class GPT2Tokenizer(Tokenizer):
    """OpenAI's GPT-2 byte-level BPE through tiktoken: 50,257 ids, EOS 50256."""

    kind = "gpt2"

    def __init__(self, encoding: tiktoken.Encoding, ranks_dir: Path | None = None) -> None:
        self._encoding = encoding
        self._ranks_dir = ranks_dir

    @property
    def vocab_size(self) -> int:
        return GPT2_VOCAB_SIZE

    @property
    def eos_id(self) -> int:
        return GPT2_EOS_ID

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The underlying tiktoken Encoding."""
        return self._encoding

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """Token bytes -> id for the 50,256 BPE tokens (ids equal ranks in GPT-2)."""
        decode_bytes = self._encoding.decode_single_token_bytes
        return {decode_bytes(i): i for i in range(GPT2_EOS_ID)}

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # Not encode_ordinary_batch: it starts a thread pool per call and a future per text,
        # which costs more than the encoding on short documents (measured 3x slower), and
        # prepare already runs one encoder per core.
        encode = self._encoding.encode_ordinary
        return [encode(text) for text in texts]

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray[Any, Any]]:
        to_numpy = getattr(self._encoding, "encode_to_numpy", None)
        if to_numpy is None:  # tiktoken < 0.8
            return super().encode_arrays(texts)
        # No special tokens allowed and none refused: a literal <|endoftext|> is plain text,
        # exactly as encode_ordinary reads it (about 10% faster, and no list of Python ints).
        return [to_numpy(text, disallowed_special=()) for text in texts]

    def decode(self, ids: Iterable[int]) -> str:
        pieces: list[str] = []
        known: list[int] = []
        for i in ids:
            if 0 <= i < GPT2_VOCAB_SIZE:
                known.append(int(i))
            else:
                # An id of a padded model vocabulary has no text; show it, do not crash.
                pieces.append(self._encoding.decode(known))
                pieces.append("\ufffd")
                known = []
        pieces.append(self._encoding.decode(known))
        return "".join(pieces)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "gpt2",
            "encoding": "r50k_base",
            "vocab_size": GPT2_VOCAB_SIZE,
            "eos_id": GPT2_EOS_ID,
        }

    def _local_hints(self) -> dict[str, Any]:
        return {"gpt2_ranks_dir": str(self._ranks_dir)} if self._ranks_dir else {}


def _missing_gpt2_message(detail: str) -> str:
    return (
        f"The GPT-2 tokenizer files could not be found ({detail}). Either pass --tokenizer-dir "
        f"DIR or set {TOKENIZER_ENV}=DIR, where DIR is a folder holding {GPT2_RANKS_FILE}, or "
        "connect to the internet once so tiktoken downloads and caches the 'gpt2' encoding."
    )


def _ranks_path(location: Path) -> Path:
    """The ranks file itself, or the file of that name inside a folder."""
    return location if location.is_file() else location / GPT2_RANKS_FILE


@functools.lru_cache(maxsize=4)
def _encoding_from_ranks_file(path: Path) -> tiktoken.Encoding:
    """Build the GPT-2 Encoding from a local r50k_base.tiktoken (cached per file in a process)."""
    import tiktoken

    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != GPT2_RANKS_SHA256:
        raise DataError(
            f"{path} is not the GPT-2 ranks file (its sha256 differs from r50k_base's). "
            f"Replace it with an intact copy of {GPT2_RANKS_FILE}, or point --tokenizer-dir / "
            f"{TOKENIZER_ENV} at a folder that holds one."
        )
    # Each line is "<base64 token bytes> <rank>".
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={EOS_TEXT: GPT2_EOS_ID},
        explicit_n_vocab=GPT2_VOCAB_SIZE,
    )


def gpt2_tokenizer(
    tokenizer_dir: str | Path | None = None, *, remembered_dir: str | Path | None = None
) -> GPT2Tokenizer:
    """The GPT-2 tokenizer, offline when possible.

    Looks for r50k_base.tiktoken in `tokenizer_dir` (a folder or the file itself), then in
    $GPTLAB_TOKENIZER_DIR, then in `remembered_dir` (where a saved tokenizer found it before),
    and last asks tiktoken for "gpt2" (its cache, or a download). DataError when all fail.
    """
    explicit = (
        ("--tokenizer-dir", tokenizer_dir),
        (TOKENIZER_ENV, os.environ.get(TOKENIZER_ENV) or None),
    )
    for label, location in explicit:
        if location is None:
            continue
        path = _ranks_path(Path(location).expanduser())
        if not path.is_file():
            # A folder the user named explicitly but without the file: say so, do not guess on.
            raise DataError(
                _missing_gpt2_message(f"{label} points at {location}, which has no {path.name}")
            )
        return GPT2Tokenizer(_encoding_from_ranks_file(path.resolve()), path.resolve().parent)
    if remembered_dir is not None:
        path = _ranks_path(Path(remembered_dir))
        if path.is_file():
            return GPT2Tokenizer(_encoding_from_ranks_file(path.resolve()), path.resolve().parent)
    import tiktoken

    try:
        encoding = tiktoken.get_encoding("gpt2")
    except Exception as exc:  # network, cache and hash failures all mean "not available here"
        raise DataError(
            _missing_gpt2_message(
                f"no --tokenizer-dir or {TOKENIZER_ENV} was given, and tiktoken could not load "
                f"'gpt2' from its cache or the internet: {type(exc).__name__}"
            )
        ) from None
    return GPT2Tokenizer(encoding)


# ------------------------------------------------------------------------ bytes and characters


class ByteTokenizer(Tokenizer):
    """The UTF-8 bytes of the text: ids 0..255, EOS 256."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return 257

    @property
    def eos_id(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        # surrogatepass: a lone surrogate from a lenient file read still gets bytes, not a crash.
        return list(text.encode("utf-8", "surrogatepass"))

    def decode(self, ids: Iterable[int]) -> str:
        pieces: list[str] = []
        run = bytearray()
        for i in ids:
            if 0 <= i < 256:
                run.append(i)
                continue
            pieces.append(run.decode("utf-8", "replace"))
            run.clear()
            pieces.append(EOS_TEXT if i == 256 else "\ufffd")
        pieces.append(run.decode("utf-8", "replace"))
        return "".join(pieces)

    def spec(self) -> dict[str, Any]:
        return {"kind": "byte", "vocab_size": 257, "eos_id": 256}


class CharTokenizer(Tokenizer):
    """One id per distinct character seen when it was built (sorted), then EOS."""

    kind = "char"

    def __init__(self, characters: Iterable[str]) -> None:
        self._chars = sorted(set(characters))
        if not self._chars:
            raise DataError(
                "The char tokenizer found no characters to learn: the corpus is empty. Point "
                "prepare at a source with text in it."
            )
        if any(len(c) != 1 for c in self._chars):
            raise DataError("A char tokenizer vocabulary must hold single characters only.")
        self._index = {c: i for i, c in enumerate(self._chars)}

    @classmethod
    def learn(cls, texts: Iterable[str]) -> CharTokenizer:
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(seen)

    @property
    def characters(self) -> list[str]:
        return list(self._chars)

    @property
    def vocab_size(self) -> int:
        return len(self._chars) + 1

    @property
    def eos_id(self) -> int:
        return len(self._chars)

    def encode(self, text: str) -> list[int]:
        index = self._index
        try:
            return [index[c] for c in text]
        except KeyError as exc:
            raise DataError(
                f"The character {exc.args[0]!r} (U+{ord(exc.args[0]):04X}) is not in this char "
                f"tokenizer's vocabulary of {len(self._chars)} characters: a char tokenizer only "
                "knows the characters it saw when the dataset was prepared. Remove the "
                "character, or prepare the data again from text that contains it."
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        chars, eos = self._chars, len(self._chars)
        return "".join(
            chars[i] if 0 <= i < eos else (EOS_TEXT if i == eos else "\ufffd") for i in ids
        )

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "char",
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "characters": "".join(self._chars),
        }


# ------------------------------------------------------------------------------ trained BPE


class BPETokenizer(Tokenizer):
    """A byte-level BPE trained on the user's corpus with Hugging Face `tokenizers`."""

    kind = "bpe"

    def __init__(self, hf: HFTokenizer) -> None:
        # The literal "<|endoftext|>" in a document must stay text, like the other kinds.
        hf.encode_special_tokens = True
        self._hf = hf
        self._json = hf.to_str()
        eos = hf.token_to_id(EOS_TEXT)
        if eos is None:
            raise DataError(f"The BPE tokenizer has no {EOS_TEXT} token; train it again.")
        self._eos_id = int(eos)
        self._vocab_size = int(hf.get_vocab_size(with_added_tokens=True))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < BPE_MIN_VOCAB_SIZE:
            raise ConfigError(
                f"vocab_size={vocab_size} is too small for a byte-level BPE: it needs 256 byte "
                f"ids plus {EOS_TEXT}, so at least {BPE_MIN_VOCAB_SIZE}. Pass a larger "
                "--vocab-size (for example 4096)."
            )
        hf = HFTokenizer(models.BPE())
        # No normalizer and no prefix space, so decode(encode(x)) == x exactly.
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOS_TEXT],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        # The iterator API streams the texts; memory holds word counts, not the corpus.
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf)

    @classmethod
    def from_json(cls, text: str) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(text))

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def eos_id(self) -> int:
        return self._eos_id

    def encode(self, text: str) -> list[int]:
        return list(self._hf.encode(text, add_special_tokens=False).ids)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self._hf.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.ids) for e in encodings]

    def decode(self, ids: Iterable[int]) -> str:
        pieces: list[str] = []
        known: list[int] = []
        for i in ids:
            if 0 <= i < self._vocab_size:
                known.append(int(i))
            else:
                pieces.append(self._hf.decode(known, skip_special_tokens=False))
                pieces.append("\ufffd")
                known = []
        pieces.append(self._hf.decode(known, skip_special_tokens=False))
        return "".join(pieces)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": "bpe",
            "vocab_size": self._vocab_size,
            "eos_id": self._eos_id,
            "file": BPE_MODEL_FILE,
            "sha256": hashlib.sha256(self._json.encode("utf-8")).hexdigest(),
        }

    def _save_files(self, directory: Path) -> None:
        atomic_write_text(directory / BPE_MODEL_FILE, self._json)


# ------------------------------------------------------------------------------ making and loading


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
