"""The tokenizer interface: the Tokenizer base class, tokenizer.json's format and the EOS text.

Every kind (tokenizer_gpt2.py, tokenizer_chars.py, tokenizer_bpe.py) encodes ordinary text to
ids, decodes ids back, names its end-of-text id and saves itself as tokenizer.json beside the
shards it produced; tokenizers.py makes and loads them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.fileio import atomic_write_json

TOKENIZER_NAMES = ("gpt2", "char", "byte", "bpe")
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_FORMAT = "gptlab-tokenizer"
TOKENIZER_FORMAT_VERSION = 1
EOS_TEXT = "<|endoftext|>"


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
