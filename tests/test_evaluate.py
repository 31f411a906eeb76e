"""Tests of gptlab.evaluate: sliding-window scoring, bits per byte, HellaSwag and LAMBADA."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.config import ModelConfig
from gptlab.errors import ConfigError
from gptlab.evaluate import (
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
