"""Tests of gptlab.report.inspect: what capture records, and the pictures draw_viz writes."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from gptlab.config import ModelConfig
from gptlab.data.tokenizers import make_tokenizer
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT
from gptlab.report.inspect import MAX_PROMPT_TOKENS, capture, draw_viz, token_label

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
    cap = capture(model, tokenizer, "x" * 100)
    assert len(cap.tokens) == MAX_PROMPT_TOKENS
    assert cap.dropped_tokens == 100 - MAX_PROMPT_TOKENS
    with pytest.raises(ConfigError, match="prompt is empty"):
        capture(model, tokenizer, "   ")


def test_token_label() -> None:
    assert token_label(" the") == "·the"
    assert token_label("\n\t") == "\\n\\t"
    assert token_label("a" * 30).endswith("…") and len(token_label("a" * 30)) == 12
    assert token_label("") == "∅"


def test_draw_viz_writes_pictures_and_page(model: GPT, tokenizer, tmp_path: Path) -> None:
    cap = capture(model, tokenizer, PROMPT)
    paths = draw_viz(cap, tmp_path / "viz")
    names = {p.name for p in paths}
    assert names == {
        "attention_layer0.png",
        "attention_layer1.png",
        "residual_norms.png",
        "attention_outputs.png",
        "mlp_activations.png",
        "top_neurons.png",
    }
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000, path
    page = (tmp_path / "viz" / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == len(paths)
    embedded = page.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(embedded) == paths[0].read_bytes()
    assert "Tom had a red ball." in page
    assert not [p for p in (tmp_path / "viz").iterdir() if p.name.startswith(".")]


def test_draw_viz_single_head_and_range_errors(model: GPT, tokenizer, tmp_path: Path) -> None:
    cap = capture(model, tokenizer, "Hi there")
    paths = draw_viz(cap, tmp_path, layer=1, head=3)
    assert paths[0].name == "attention_L1_H3.png" and paths[0].stat().st_size > 10_000
    assert not (tmp_path / "attention_layer0.png").exists()
    with pytest.raises(ConfigError, match="layers 0 to 1"):
        draw_viz(cap, tmp_path, layer=2)
    with pytest.raises(ConfigError, match="heads 0 to 3"):
        draw_viz(cap, tmp_path, layer=0, head=-1)


def test_dollar_signs_in_tokens_are_drawn_as_text(model: GPT, tokenizer, tmp_path: Path) -> None:
    # GPT-2 has tokens such as "$$"; matplotlib would parse "$$" or "$x^$" as (broken) mathtext.
    cap = capture(model, tokenizer, "a $$ b $x^$")
    labels = ["$$", "$x^$", *cap.tokens[2:]]
    paths = draw_viz(dataclasses.replace(cap, tokens=labels), tmp_path, layer=0, head=0)
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in paths)
