"""How many UTF-8 bytes each token id stands for: exact bits per byte of any token sequence.

A byte token is one byte, a char token its character's UTF-8 bytes, a GPT-2 token its BPE bytes
(tiktoken), a token of a trained byte-level BPE one byte per symbol of its byte-level spelling.
EOS (and any special token) stands for no text, so for every gptlab tokenizer the bytes of
encode(text) add up to the UTF-8 bytes of the text. Trade-off: the table is built per call
(microseconds for byte/char, ~50 ms for GPT-2's 50k ids); callers that loop should keep it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.errors import ConfigError


def token_byte_lengths(tokenizer: Any) -> np.ndarray[Any, Any]:
    """UTF-8 bytes each token id stands for (int64, one entry per id; EOS and specials: 0).

    The BPE spelling is read from the tokenizer's own saved file (its public save()).
    """
    kind = getattr(tokenizer, "kind", None)
    lengths = np.zeros(int(tokenizer.vocab_size), dtype=np.int64)
    if kind == "byte":
        lengths[:256] = 1
    elif kind == "char":
        for index, character in enumerate(tokenizer.characters):
            lengths[index] = len(character.encode("utf-8", "surrogatepass"))
    elif kind == "gpt2":
        token_bytes = tokenizer.encoding.decode_single_token_bytes
        for index in range(int(tokenizer.eos_id)):
            lengths[index] = len(token_bytes(index))
    elif kind == "bpe":
        lengths = _bpe_byte_lengths(tokenizer, lengths)
    else:
        raise ConfigError(
            f"Bits per byte of a part of a text need each token's bytes, which the {kind!r} "
            "tokenizer does not give. Score the whole text (leave out --max-tokens)."
        )
    lengths[int(tokenizer.eos_id)] = 0
    return lengths


def token_bytes(tokenizer: Any, token_id: int) -> bytes | None:
    """The UTF-8 bytes one token stands for, where the tokenizer gives them cheaply (byte, char,
    GPT-2); None for EOS, ids outside the vocabulary and a trained BPE."""
    kind = getattr(tokenizer, "kind", None)
    if not 0 <= token_id < int(tokenizer.eos_id):  # byte, char and GPT-2 put EOS last
        return None
    if kind == "byte":
        return bytes([token_id])
    if kind == "char":
        return str(tokenizer.characters[token_id]).encode("utf-8", "surrogatepass")
    if kind == "gpt2":
        return bytes(tokenizer.encoding.decode_single_token_bytes(token_id))
    return None


def _bpe_byte_lengths(tokenizer: Any, lengths: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Byte-level BPE: every symbol of a token's spelling is one byte (specials stay 0)."""
    import tempfile

    from gptlab.data.tokenizers import BPE_MODEL_FILE

    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save(folder)
        model = json.loads((Path(folder) / BPE_MODEL_FILE).read_text(encoding="utf-8"))
    specials = {entry["id"] for entry in model.get("added_tokens", [])}
    for spelling, index in model["model"]["vocab"].items():
        if index not in specials and 0 <= index < lengths.size:
            lengths[index] = len(spelling)
    return lengths


def tokens_bytes(
    tokenizer: Any, ids: np.ndarray[Any, Any] | list[int], table: np.ndarray[Any, Any] | None = None
) -> int:
    """The exact UTF-8 bytes a token sequence stands for (EOS counts none)."""
    table = token_byte_lengths(tokenizer) if table is None else table
    array = np.asarray(ids, dtype=np.int64)
    valid = (array >= 0) & (array < table.size)
    return int(table[array[valid]].sum())
