"""GPT-2 tokenizer files (vocab.json, merges.txt, tokenizer.json and the small files transformers
reads) written from tiktoken-style byte-level BPE ranks.

Trade-off: the merge list is rebuilt from the ranks alone, by running BPE on each multi-byte token,
so no merges file is needed, at the cost of one short BPE run per token of the vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptlab.data.tokenizers import EOS_TEXT as GPT2_EOS_TEXT
from gptlab.errors import CheckpointError


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte to a printable character.

    Printable Latin-1 bytes stand for themselves; the 68 others (controls, space, ...) are given
    the code points from 256 upwards in byte order, so no token text contains whitespace.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _bpe_last_merge(token: bytes, ranks: Mapping[bytes, int]) -> tuple[bytes, bytes]:
    """The pair whose merge produced `token`: run BPE with only the merges ranked below it."""
    limit = ranks[token]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_index, best_rank = -1, limit
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_index, best_rank = i, rank
        if best_index < 0:
            break
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    if len(parts) != 2:
        raise CheckpointError(
            f"The BPE ranks cannot rebuild token {token!r}: the tokenizer files are not a "
            "byte-level BPE (or are damaged). Point at intact GPT-2 files with --tokenizer-dir."
        )
    return parts[0], parts[1]


def byte_level_bpe_files(ranks: Mapping[bytes, int]) -> tuple[dict[str, int], list[str]]:
    """vocab.json mapping and merges.txt lines (rank order) from byte-sequence -> id ranks.

    In a tiktoken byte-level BPE the rank of a multi-byte token is its merge priority, so the
    merge list is every multi-byte token, in rank order, split where BPE would last join it.
    """
    to_char = bytes_to_unicode()

    def text(token: bytes) -> str:
        return "".join(to_char[b] for b in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges = []
    for token, _rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) > 1:
            left, right = _bpe_last_merge(token, ranks)
            merges.append(f"{text(left)} {text(right)}")
    return vocab, merges


def write_gpt2_tokenizer_files(
    directory: Path, ranks: Mapping[bytes, int], eos_id: int, model_max_length: int
) -> None:
    """Write vocab.json, merges.txt, tokenizer.json and the small files transformers reads."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, processors

    vocab, merges = byte_level_bpe_files(ranks)
    vocab[GPT2_EOS_TEXT] = eos_id
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    pairs = [(left, right) for left, _, right in (line.partition(" ") for line in merges)]
    fast = HFTokenizer(models.BPE(vocab=vocab, merges=pairs))
    fast.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    fast.decoder = decoders.ByteLevel()
    fast.post_processor = processors.ByteLevel(trim_offsets=False)
    fast.add_special_tokens([GPT2_EOS_TEXT])
    fast.save(str(directory / "tokenizer.json"))
    write_json(
        directory / "tokenizer_config.json",
        {
            "tokenizer_class": "GPT2Tokenizer",
            "model_max_length": model_max_length,
            "bos_token": GPT2_EOS_TEXT,
            "eos_token": GPT2_EOS_TEXT,
            "unk_token": GPT2_EOS_TEXT,
            "add_prefix_space": False,
        },
    )
    write_json(
        directory / "special_tokens_map.json",
        {"bos_token": GPT2_EOS_TEXT, "eos_token": GPT2_EOS_TEXT, "unk_token": GPT2_EOS_TEXT},
    )


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
