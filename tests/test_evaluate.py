"""Tests of gptlab.evaluate: sliding-window scoring, bits per byte, HellaSwag and LAMBADA."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.config import ModelConfig
from gptlab.errors import ConfigError, DataError
from gptlab.evaluate import (
    evaluate_hellaswag,
    evaluate_lambada,
    evaluate_split,
    evaluate_text,
    evaluate_tokens,
    plan_windows,
)
from gptlab.model.gpt import GPT

VOCAB = 50


def tiny_model(vocab_size: int = VOCAB, context_length: int = 16, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        n_layer=2, n_head=2, n_embd=32, context_length=context_length, vocab_size=vocab_size
    )
    return GPT(cfg).eval()


def stream(num_tokens: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=num_tokens)


# ---------------------------------------------------------------------------------------------
# window planning


@pytest.mark.parametrize("num_tokens", [2, 5, 16, 17, 18, 40, 97])
@pytest.mark.parametrize("stride", [1, 3, 8, 15, 16])
def test_every_target_scored_exactly_once(num_tokens: int, stride: int) -> None:
    ctx = 16
    counts = np.zeros(num_tokens, dtype=int)
    for w in plan_windows(num_tokens, ctx, stride):
        assert w.length == min(ctx, num_tokens - 1)
        assert 1 <= w.scored <= w.length
        assert w.start + w.length <= num_tokens - 1
        targets = np.arange(w.start + 1, w.start + w.length + 1)  # stream positions predicted
        counts[targets[-w.scored :]] += 1
    assert counts[0] == 0  # the first token has no context and is never scored
    assert (counts[1:] == 1).all()


def test_scored_tokens_keep_context_of_context_minus_stride() -> None:
    ctx, stride = 16, 4
    for w in plan_windows(200, ctx, stride)[1:]:
        first_scored_offset = w.length - w.scored  # index within the window's targets
        assert first_scored_offset >= ctx - stride - 1  # at least ctx - stride inputs before it


def test_stride_equal_to_context_gives_non_overlapping_chunks() -> None:
    windows = plan_windows(16 * 5 + 1, 16, 16)
    assert [w.start for w in windows] == [0, 16, 32, 48, 64]
    assert all(w.scored == 16 for w in windows)


def test_bad_stride_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="stride"):
        plan_windows(100, 16, 0)
    with pytest.raises(ConfigError, match="between 1 and the context length"):
        plan_windows(100, 16, 17)


# ---------------------------------------------------------------------------------------------
# scoring with a real (random-init) model


def reference_nll(model: GPT, ids: np.ndarray, ctx: int, stride: int) -> list[float]:
    """Brute force: each target's nll from its own forward pass over the window that scores it."""
    nlls = []
    for w in plan_windows(len(ids), ctx, stride):
        for offset in range(w.length - w.scored, w.length):
            t = w.start + offset + 1  # stream position of the target
            x = torch.tensor(ids[w.start : t], dtype=torch.long)[None]
            with torch.no_grad():
                logits, _ = model(x)
            nlls.append(-float(F.log_softmax(logits[0, -1], -1)[int(ids[t])]))
    return nlls


@pytest.mark.parametrize("stride", [1, 5, 16])
def test_batched_scores_match_brute_force(stride: int) -> None:
    model = tiny_model()
    ids = stream(45)
    result = evaluate_tokens(model, ids, context_length=16, stride=stride, batch_size=3)
    nlls = reference_nll(model, ids, 16, stride)
    assert result.tokens == len(ids) - 1 == len(nlls)
    assert result.loss == pytest.approx(sum(nlls) / len(nlls), rel=1e-5)
    assert result.ppl == pytest.approx(math.exp(result.loss), rel=1e-9)


def test_text_inside_one_window_equals_one_full_forward() -> None:
    model = tiny_model()
    ids = stream(12)
    x = torch.tensor(ids[:-1])[None]
    y = torch.tensor(ids[1:])[None]
    with torch.no_grad():
        logits, loss = model(x, targets=y)
    expected_acc = float((logits.argmax(-1) == y).float().mean())
    for stride in (1, 4, 16):
        result = evaluate_tokens(model, ids, context_length=16, stride=stride)
        assert result.tokens == 11
        assert result.loss == pytest.approx(float(loss), rel=1e-5)
        assert result.acc == pytest.approx(expected_acc)


def test_smaller_stride_changes_loss_but_not_token_count() -> None:
    model = tiny_model()
    ids = stream(100)
    full = evaluate_tokens(model, ids, context_length=16, stride=16)
    half = evaluate_tokens(model, ids, context_length=16, stride=8)
    assert full.tokens == half.tokens == 99
    assert full.loss != half.loss
    assert 0.0 <= half.acc <= half.acc_top5 <= 1.0


def test_deterministic_and_bits_per_byte_consistent() -> None:
    model = tiny_model()
    model.train()  # evaluation must switch dropout off by itself and restore the mode
    ids = stream(60)
    a = evaluate_tokens(model, ids, context_length=16, num_bytes=123, batch_size=2)
    b = evaluate_tokens(model, ids, context_length=16, num_bytes=123, batch_size=7)
    assert model.training
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    assert a.acc == b.acc and a.tokens == b.tokens
    assert a.bits_per_byte == pytest.approx(a.loss * a.tokens / 123 / math.log(2), rel=1e-9)
    assert a.to_dict()["bytes"] == 123
    assert json.dumps(a.to_dict())


def test_context_longer_than_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="accepts 1 to 16"):
        evaluate_tokens(tiny_model(), stream(50), context_length=32)


# ---------------------------------------------------------------------------------------------
# raw text, prepared splits


def byte_tokenizer():
    from gptlab.data.tokenizers import make_tokenizer

    return make_tokenizer("byte")


def test_evaluate_text_counts_tokens_and_bytes() -> None:
    tokenizer = byte_tokenizer()
    model = tiny_model(vocab_size=tokenizer.vocab_size, context_length=16)
    text = "Grüße aus Köln! " * 5  # multi-byte characters: tokens == bytes for a byte tokenizer
    result = evaluate_text(model, tokenizer, text, context_length=16, stride=5, progress=False)
    num_bytes = len(text.encode("utf-8"))
    assert result.bytes == num_bytes
    assert result.tokens == num_bytes - 1
    assert result.bits_per_byte == pytest.approx(
        result.loss * result.tokens / num_bytes / math.log(2), rel=1e-9
    )
    ids = np.asarray(tokenizer.encode(text))
    direct = evaluate_tokens(model, ids, context_length=16, stride=5, vocab_size=257)
    assert direct.loss == pytest.approx(result.loss, rel=1e-9)
    with pytest.raises(DataError, match="empty"):
        evaluate_text(model, tokenizer, "", context_length=16)


def test_evaluate_text_max_tokens_scores_a_prefix() -> None:
    tokenizer = byte_tokenizer()
    model = tiny_model(vocab_size=tokenizer.vocab_size, context_length=16)
    text = "abcdefghij" * 8  # 80 bytes, 80 tokens
    part = evaluate_text(
        model, tokenizer, text, context_length=16, stride=8, max_tokens=40, progress=False
    )
    prefix = evaluate_text(model, tokenizer, text[:40], context_length=16, stride=8, progress=False)
    assert part.tokens == 39 and part.bytes == 40
    assert part.loss == pytest.approx(prefix.loss, rel=1e-9)
    whole = evaluate_text(
        model, tokenizer, text, context_length=16, stride=8, max_tokens=1000, progress=False
    )
    assert whole.tokens == 79
    with pytest.raises(ConfigError, match="at least 2"):
        evaluate_text(model, tokenizer, text, context_length=16, max_tokens=1)


def test_evaluate_split_scores_every_token_and_exact_prefix_bytes(tmp_path: Path) -> None:
    from gptlab.data.loader import count_tokens, load_split_tokens
    from gptlab.data.prepare import load_meta, prepare

    data = tmp_path / "data"
    prepare(
        "builtin",
        data,
        tokenizer="byte",
        builtin_stories=40,
        val_fraction=0.2,
        num_workers=1,
        progress=False,
    )
    model = tiny_model(vocab_size=257, context_length=32)
    n_val = count_tokens(data, "val")
    full = evaluate_split(model, data, "val", context_length=32, batch_size=16, progress=False)
    assert full.tokens == n_val - 1
    assert full.bytes == load_meta(data)["splits"]["val"]["bytes"]
    part = evaluate_split(
        model, data, "val", context_length=32, max_tokens=200, batch_size=16, progress=False
    )
    assert part.tokens == 199
    prefix = np.asarray(load_split_tokens(data, "val")[0:200])
    assert part.bytes == int(np.count_nonzero(prefix != 256))  # byte ids are bytes; EOS is none
    assert part.bits_per_byte == pytest.approx(
        part.loss * part.tokens / part.bytes / math.log(2), rel=1e-9
    )
    with pytest.raises(DataError, match="no split"):
        evaluate_split(model, data, "test", context_length=32, progress=False)


def test_bits_per_byte_of_a_prefix_uses_the_exact_bytes_of_its_tokens() -> None:
    from gptlab.data.tokenizers import make_tokenizer

    # Characters of 1, 2 and 3 UTF-8 bytes, unevenly spread: a pro-rata share would be wrong.
    text = "abc 北京的冬天很冷。" + "é" * 10 + " plain ascii tail" * 3
    tokenizer = make_tokenizer("char", texts=lambda: [text])
    model = tiny_model(vocab_size=tokenizer.vocab_size, context_length=16)
    used = 14
    part = evaluate_text(
        model, tokenizer, text, context_length=16, stride=8, max_tokens=used, progress=False
    )
    by_hand_bytes = len(text[:used].encode("utf-8"))  # one char token per character
    assert by_hand_bytes == 4 + 8 * 3 + 2 * 2  # "abc ", eight 3-byte characters, "éé"
    assert part.bytes == by_hand_bytes
    assert part.bytes != round(len(text.encode("utf-8")) * used / len(text))
    ids = torch.tensor(tokenizer.encode(text[:used]))[None]
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    nats = -float(F.log_softmax(logits[0], -1)[torch.arange(used - 1), ids[0, 1:]].sum())
    assert part.bits_per_byte == pytest.approx(nats / math.log(2) / by_hand_bytes, rel=1e-5)


def test_token_byte_lengths_of_a_trained_bpe_add_up_to_the_text() -> None:
    from gptlab.data.token_bytes import tokens_bytes
    from gptlab.data.tokenizers import make_tokenizer

    texts = ["小猫在花园里玩。它很开心！", "A small cat plays in the garden, très content."] * 20
    tokenizer = make_tokenizer("bpe", texts=lambda: texts, vocab_size=300)
    for text in texts[:2]:
        ids = tokenizer.encode(text)
        assert tokens_bytes(tokenizer, ids) == len(text.encode("utf-8"))
        assert tokens_bytes(tokenizer, [*ids, tokenizer.eos_id]) == len(text.encode("utf-8"))


def test_token_byte_lengths_of_gpt2(gpt2_dir: Path) -> None:
    from gptlab.data.token_bytes import tokens_bytes
    from gptlab.data.tokenizers import make_tokenizer

    tokenizer = make_tokenizer("gpt2", tokenizer_dir=gpt2_dir)
    text = "Héllo wörld, 你好世界 — fin."
    ids = tokenizer.encode(text)
    assert tokens_bytes(tokenizer, ids) == len(text.encode("utf-8"))
    assert tokens_bytes(tokenizer, ids[:3]) == len(tokenizer.decode(ids[:3]).encode("utf-8"))


MEMORIZED = "the cat sat on the mat. the dog ran to the park."


@pytest.fixture(scope="module")
def memorized_model() -> GPT:
    """A tiny byte-level model trained until it recites MEMORIZED (a few seconds on a CPU)."""
    tokenizer, text, max_steps = byte_tokenizer(), MEMORIZED, 800
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=48, context_length=64, vocab_size=257))
    ids = torch.tensor(tokenizer.encode(text))[None]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(max_steps):  # a fixed lr oscillates near zero: stop once it recites
        _, loss = model(ids[:, :-1], targets=ids[:, 1:])
        if float(loss.detach()) < 0.02:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.02
    return model.eval()


# ---------------------------------------------------------------------------------------------
# HellaSwag


@pytest.mark.slow
def test_hellaswag_random_model_is_near_chance(shared_data: Path, gpt2_dir: Path) -> None:
    from gptlab.data.tokenizers import make_tokenizer

    path = shared_data / "hellaswag" / "hellaswag_val_sample200.jsonl"
    if not path.is_file():
        pytest.skip(f"HellaSwag sample not found at {path}")
    torch.set_num_threads(1)
    tokenizer = make_tokenizer("gpt2", tokenizer_dir=gpt2_dir)
    # context 64 is shorter than many ctx + ending pairs, so left-cropping is exercised too
    model = tiny_model(vocab_size=tokenizer.vocab_size, context_length=64)
    scores = evaluate_hellaswag(model, tokenizer, path)
    assert scores["count"] == 200
    assert 0.15 <= scores["acc"] <= 0.35
    assert 0.15 <= scores["acc_norm"] <= 0.35
    assert evaluate_hellaswag(model, tokenizer, path, limit=10)["count"] == 10


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_hellaswag_prefers_the_ending_the_model_knows(tmp_path: Path, memorized_model: GPT) -> None:
    tokenizer = byte_tokenizer()
    model = memorized_model
    row = {
        "ctx": "the cat sat on",
        "endings": ["a ball.", "the mat.", "the park.", "xqz."],
        "label": 1,
    }
    scores = evaluate_hellaswag(model, tokenizer, write_jsonl(tmp_path / "h.jsonl", [row] * 2))
    assert scores == {"acc": 1.0, "acc_norm": 1.0, "acc_norm_convention": "chars", "count": 2}
    by_bytes = evaluate_hellaswag(model, tokenizer, tmp_path / "h.jsonl", acc_norm="bytes")
    assert by_bytes["acc_norm_convention"] == "bytes"
    with pytest.raises(ConfigError, match="chars"):
        evaluate_hellaswag(model, tokenizer, tmp_path / "h.jsonl", acc_norm="tokens")


def test_acc_norm_lengths_follow_lm_evaluation_harness() -> None:
    from gptlab.evaluate.benchmarks import _ending_length

    # lm-evaluation-harness: len() of the choice as given (no leading space), in characters.
    assert _ending_length("the mat.", "chars") == 8
    assert _ending_length("café", "chars") == 4
    assert _ending_length("café", "bytes") == len(" café".encode()) == 6


def test_acc_norm_convention_can_change_the_choice() -> None:
    from gptlab.evaluate import normalised_choice

    # "ab": 2 characters, 3 bytes with its space; "éé": 2 characters, 5 bytes with its space.
    endings, sums = ["ab", "éé"], [-2.0, -2.4]
    assert normalised_choice(sums, endings, "chars") == 0  # -1.0 vs -1.2 per character
    assert normalised_choice(sums, endings, "bytes") == 1  # -0.667 vs -0.48 per byte


def test_hellaswag_schema_errors_name_line_and_key(tmp_path: Path) -> None:
    model = tiny_model(vocab_size=257)
    tokenizer = byte_tokenizer()
    good = {"ctx": "a", "endings": ["b", "c", "d", "e"], "label": 0}
    bad = {"ctx": "a", "label": 0}
    path = write_jsonl(tmp_path / "h.jsonl", [good, bad])
    with pytest.raises(DataError, match=r"line 2: missing key 'endings'"):
        evaluate_hellaswag(model, tokenizer, path)
    path = write_jsonl(tmp_path / "h2.jsonl", [good, "{not json"])
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        evaluate_hellaswag(model, tokenizer, path)
    path = write_jsonl(tmp_path / "h3.jsonl", [{**good, "label": 7}])
    with pytest.raises(DataError, match="line 1: 'label'"):
        evaluate_hellaswag(model, tokenizer, path)


# ---------------------------------------------------------------------------------------------
# LAMBADA


def test_lambada_accuracy_and_perplexity(tmp_path: Path, memorized_model: GPT) -> None:
    tokenizer = byte_tokenizer()
    model = memorized_model
    # Rows start where the training text starts: learned positions, so recall is exact.
    rows = [
        {"text": "the cat sat on the mat."},  # the learned word: greedy reproduces it
        {"text": "the cat sat on the hat."},  # a different word: greedy does not
        {"text": "the cat sat on the mat. the dog ran to the park. "},  # trailing space stripped
    ]
    scores = evaluate_lambada(model, tokenizer, write_jsonl(tmp_path / "l.jsonl", rows))
    assert scores["count"] == 3
    assert scores["acc"] == pytest.approx(2 / 3)
    # perplexity: exp(mean nats over the target tokens), from plain forward passes
    nats, count = 0.0, 0
    for context, word in (
        ("the cat sat on the", " mat."),
        ("the cat sat on the", " hat."),
        ("the cat sat on the mat. the dog ran to the", " park."),
    ):
        prefix, target = tokenizer.encode(context), tokenizer.encode(word)
        ids = torch.tensor(prefix + target)[None]
        with torch.no_grad():
            logits, _ = model(ids[:, :-1])
        log_probs = F.log_softmax(logits[0, len(prefix) - 1 :], -1)
        nats -= float(log_probs[torch.arange(len(target)), torch.tensor(target)].sum())
        count += len(target)
    assert scores["ppl"] == pytest.approx(math.exp(nats / count), rel=1e-4)
    assert evaluate_lambada(model, tokenizer, tmp_path / "l.jsonl", limit=1)["acc"] == 1.0


def test_lambada_malformed_lines(tmp_path: Path) -> None:
    model, tokenizer = tiny_model(vocab_size=257), byte_tokenizer()
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "a b"}, {"txt": "a b"}])
    with pytest.raises(DataError, match="line 2: missing string key 'text'"):
        evaluate_lambada(model, tokenizer, path)
    path = write_jsonl(tmp_path / "l2.jsonl", [{"text": "oneword"}])
    with pytest.raises(DataError, match="line 1: the text needs a context and a last word"):
        evaluate_lambada(model, tokenizer, path)
    with pytest.raises(DataError, match="does not exist"):
        evaluate_lambada(model, tokenizer, tmp_path / "missing.jsonl")
