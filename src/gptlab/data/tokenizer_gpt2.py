"""The GPT-2 tokenizer through tiktoken, found offline when the ranks file is on this machine.

The ranks file r50k_base.tiktoken is never copied into a dataset or run folder: it is found again
at load time (argument, $GPTLAB_TOKENIZER_DIR, a remembered folder, then tiktoken's own cache). A
local ranks file is checked against r50k_base's sha256, so a wrong file is an error that names it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gptlab.data.tokenizer_base import EOS_TEXT, Tokenizer
from gptlab.errors import DataError

if TYPE_CHECKING:
    import tiktoken

TOKENIZER_ENV = "GPTLAB_TOKENIZER_DIR"
GPT2_RANKS_FILE = "r50k_base.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_VOCAB_SIZE = 50257
GPT2_EOS_ID = 50256
# The pre-tokenizer split of GPT-2: contractions, letter runs, digit runs, other symbols, spaces.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


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
