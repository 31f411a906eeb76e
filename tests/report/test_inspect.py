"""Tests of gptlab.report.inspect: what capture records and the numbers it derives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptlab.config import ModelConfig
from gptlab.data.tokenizers import make_tokenizer
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT
from gptlab.report.inspect import (
    MAX_PROMPT_TOKENS,
    capture,
    head_scores,
    prompt_labels,
    token_label,
    token_rows,
    uniform_entropy,
)

PROMPT = "Tom had a red ball.\nHe gave it to Sue."


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=4, n_embd=32, context_length=96, vocab_size=257)
    return GPT(cfg).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer("byte")


def test_capture_shapes_and_labels(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, PROMPT)
    T = len(PROMPT.encode())
    assert cap.token_ids == tokenizer.encode(PROMPT)
    assert cap.attention.shape == (2, 4, T, T)
    assert cap.residual.shape == (3, T, 32)
    assert cap.residual_norms.shape == (3, T)
    assert cap.attn_out.shape == (2, T, 32)
    assert cap.attn_out_norms.shape == (2, T)
    assert cap.mlp_hidden.shape == (2, T, 128)
    ids, values = cap.top_neurons(3)
    assert ids.shape == values.shape == (2, T, 3)
    assert (values[..., 0] == cap.mlp_hidden.max(axis=-1)).all()
    assert (np.diff(values, axis=-1) <= 0).all()
    assert cap.tokens[3] == "·" and "\\n" in cap.tokens
    assert cap.dropped_tokens == 0


def test_attention_rows_sum_to_one_and_future_is_zero(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, PROMPT)
    np.testing.assert_allclose(cap.attention.sum(axis=-1), 1.0, rtol=1e-5)
    T = cap.attention.shape[-1]
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    assert (cap.attention[..., future] == 0).all()
    assert cap.attention[0, 0, 0, 0] == pytest.approx(1.0)  # the first token sees only itself


def test_capture_matches_plain_forward_and_restores_backend(model: GPT, tokenizer) -> None:
    model.train()
    cap = capture(model, tokenizer, PROMPT)
    assert model.training
    model.eval()
    assert all(b.attn.backend == "sdpa" and b.attn.last_attention is None for b in model.blocks)
    x = torch.tensor([cap.token_ids])
    with torch.no_grad():
        h = model.transformer.wte(x) + model.transformer.wpe(torch.arange(x.shape[1]))
        for i, block in enumerate(model.blocks):
            attn = block.attn(block.ln_1(h))
            np.testing.assert_allclose(cap.attn_out[i], attn[0].numpy(), atol=1e-5)
            h = block(h)
            np.testing.assert_allclose(cap.residual[i + 1], h[0].numpy(), atol=1e-5)


def test_long_prompts_are_cropped_and_bad_input_rejected(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, "x" * 200)
    assert len(cap.tokens) == min(MAX_PROMPT_TOKENS, 96) == 96  # the model's context
    assert cap.dropped_tokens == 200 - 96
    with pytest.raises(ConfigError, match="prompt is empty"):
        capture(model, tokenizer, "   ")


def test_token_label() -> None:
    assert token_label(" the") == "·the"
    assert token_label("\n\t") == "\\n\\t"
    assert token_label("a" * 30).endswith("…") and len(token_label("a" * 30)) == 12
    assert token_label("") == "∅"


def test_token_losses_and_predictions_match_the_model(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, PROMPT)
    x = torch.tensor([cap.token_ids])
    with torch.no_grad():
        logits, _ = model(x)
    expected = F.cross_entropy(logits[0, :-1], x[0, 1:], reduction="none").numpy()
    assert math.isnan(cap.token_loss[0])
    np.testing.assert_allclose(cap.token_loss[1:], expected, rtol=1e-5, atol=1e-5)
    assert cap.mean_loss == pytest.approx(float(expected.mean()), rel=1e-5)
    probs = torch.softmax(logits[0], dim=-1)
    assert cap.top_ids.shape == cap.top_probs.shape == (len(cap.tokens), 5)
    assert (cap.top_ids[:, 0] == probs.argmax(-1).numpy()).all()
    np.testing.assert_allclose(cap.top_probs, probs.topk(5).values.numpy(), rtol=1e-5)
    assert (np.diff(cap.top_probs, axis=-1) <= 0).all()

    rows = token_rows(cap)
    assert rows[0].loss is None and rows[0].prob is None and not rows[0].top1
    assert rows[1].prob == pytest.approx(math.exp(-expected[0]), rel=1e-5)
    for t, row in enumerate(rows[:-1]):
        actual_next = [actual for _, _, actual in row.next_guesses]
        assert actual_next == [int(i) == cap.token_ids[t + 1] for i in cap.top_ids[t]]
        assert rows[t + 1].top1 == (cap.top_ids[t, 0] == cap.token_ids[t + 1])
    assert not any(actual for _, _, actual in rows[-1].next_guesses)


def test_head_scores_on_hand_made_attention() -> None:
    T = 6
    previous = np.zeros((T, T))
    previous[0, 0] = 1.0
    previous[np.arange(1, T), np.arange(T - 1)] = 1.0  # each query looks only at i-1
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    sink = np.zeros((T, T))
    sink[:, 0] = 1.0
    scores = head_scores(np.stack([previous, uniform, sink])[None])  # (1 layer, 3 heads)
    assert scores["previous"][0].tolist() == pytest.approx(
        [1.0, np.mean(1 / np.arange(2, T + 1)), 0.2]
    )
    assert scores["entropy"][0, 0] == 0.0 and scores["entropy"][0, 2] == 0.0
    # Uniform over i+1 visible keys: entropy ln(i+1) for query i, averaged over i = 1..T-1.
    assert scores["entropy"][0, 1] == pytest.approx(np.mean(np.log(np.arange(2, T + 1))))
    assert scores["entropy"][0, 1] == pytest.approx(uniform_entropy(T))
    assert scores["first"][0].tolist() == pytest.approx(
        [0.2, np.mean(1 / np.arange(2, T + 1)), 1.0]
    )
    one_token = head_scores(np.ones((2, 3, 1, 1)))
    assert one_token["entropy"].shape == (2, 3) and np.isnan(one_token["first"]).all()


def test_head_scores_of_a_captured_model_are_in_range(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, PROMPT)
    scores = head_scores(cap.attention)
    assert scores["entropy"].shape == (2, 4)
    assert (scores["entropy"] >= 0).all()
    assert (scores["entropy"] <= uniform_entropy(len(cap.tokens)) + 1e-6).all()
    for name in ("previous", "first"):
        assert ((scores[name] >= 0) & (scores[name] <= 1)).all()
    T = len(cap.tokens)
    by_hand = np.mean([cap.attention[1, 2, i, i - 1] for i in range(1, T)])
    assert scores["previous"][1, 2] == pytest.approx(by_hand, rel=1e-5)


def test_labels_of_characters_split_over_byte_tokens(tokenizer) -> None:
    text = "你好 Tom 😀!"
    labels = prompt_labels(tokenizer, tokenizer.encode(text))
    assert labels == [
        "你…", "…你…", "…你", "好…", "…好…", "…好", "·", "T", "o", "m", "·",
        "😀…", "…😀…", "…😀…", "…😀", "!",
    ]  # fmt: skip
    chars = make_tokenizer("char", texts=lambda: ["ab c"])
    assert prompt_labels(chars, chars.encode("ab c")) == [
        "a", "b", "·", "c",
    ]  # fmt: skip


def test_capture_of_a_chinese_prompt_on_a_byte_model(model: GPT, tokenizer) -> None:
    cap = capture(model, tokenizer, "小狗跑了。")
    assert len(cap.tokens) == 15 and cap.tokens[0] == "小…" and cap.tokens[-1] == "…。"
    assert all(len(row) == 5 for row in cap.top_tokens)
