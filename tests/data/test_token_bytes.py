"""Tests of token_bytes: the bytes one token stands for, where the tokenizer gives them."""

from __future__ import annotations

from pathlib import Path

from gptlab.data.token_bytes import token_bytes
from gptlab.data.tokenizers import CharTokenizer, make_tokenizer


def test_byte_and_char_tokens_give_their_bytes_and_eos_none() -> None:
    byte = make_tokenizer("byte")
    assert token_bytes(byte, 0xE4) == b"\xe4"
    assert token_bytes(byte, byte.eos_id) is None
    chars = CharTokenizer("a你")
    assert [token_bytes(chars, i) for i in range(chars.vocab_size)] == [b"a", "你".encode(), None]


def test_gpt2_tokens_join_into_the_text(gpt2_dir: Path) -> None:
    tokenizer = make_tokenizer("gpt2", tokenizer_dir=gpt2_dir)
    text = "Héllo, 你好世界"
    pieces = [token_bytes(tokenizer, i) for i in tokenizer.encode(text)]
    assert b"".join(p for p in pieces if p is not None) == text.encode("utf-8")
    assert all(p is not None for p in pieces)
    assert token_bytes(tokenizer, tokenizer.eos_id) is None


def test_a_trained_bpe_gives_none() -> None:
    texts = ["小猫在花园里玩。", "A small cat plays."] * 10
    tokenizer = make_tokenizer("bpe", texts=lambda: texts, vocab_size=270)
    assert token_bytes(tokenizer, tokenizer.encode("A")[0]) is None
