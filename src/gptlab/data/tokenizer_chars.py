"""Byte- and character-level tokenizers: one id per UTF-8 byte, or per character seen, then EOS.

Neither needs a file beyond tokenizer.json: the byte kind is fixed at 257 ids, and the char kind
learns its alphabet by reading the corpus once and stores it in its spec. A character the char
kind did not see is an error at encode time, not an unknown-token id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gptlab.data.tokenizer_base import EOS_TEXT, Tokenizer
from gptlab.errors import DataError


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
