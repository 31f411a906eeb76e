"""A byte-level BPE trained on the user's own corpus with Hugging Face `tokenizers`.

The trained model is saved as bpe.json beside tokenizer.json, whose spec records its sha256, so a
dataset folder carries the exact merges that made its shards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptlab.data.tokenizer_base import EOS_TEXT, Tokenizer
from gptlab.errors import ConfigError, DataError
from gptlab.fileio import atomic_write_text

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

BPE_MODEL_FILE = "bpe.json"
# A byte-level BPE must hold the 256 byte symbols and the end-of-text token.
BPE_MIN_VOCAB_SIZE = 257


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
