"""Tests of the GPT-2 model: shapes, loss, masks, tying, init, attention, KV cache, sizes."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from gptlab.config import PRESETS, ModelConfig, preset_config
from gptlab.errors import ConfigError
from gptlab.model import GPT, ParamCount
from gptlab.model.gpt import (
    estimate_flops_per_token,
    preset_summaries,
    set_attention_backend,
)

VOCAB = 100  # padded to 128 by the default vocab_multiple of 64


def tiny_cfg(**changes: object) -> ModelConfig:
    base = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=48, vocab_size=VOCAB)
    return dataclasses.replace(base, **changes)


def tiny_model(seed: int = 0, **changes: object) -> GPT:
    torch.manual_seed(seed)
    return GPT(tiny_cfg(**changes)).eval()


def random_ids(B: int, T: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


def test_module_names_follow_hugging_face_gpt2() -> None:
    names = set(dict(tiny_model(tie_weights=False).named_parameters()))
    expected = {
        "transformer.wte.weight",
        "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight",
        "transformer.h.0.ln_1.bias",
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.c_attn.bias",
        "transformer.h.0.attn.c_proj.weight",
        "transformer.h.0.ln_2.weight",
        "transformer.h.1.mlp.c_fc.weight",
        "transformer.h.1.mlp.c_proj.bias",
        "transformer.ln_f.weight",
        "lm_head.weight",
    }
    assert expected <= names
    assert "lm_head.bias" not in names


def test_logits_shape_is_true_vocab_and_pad_rows_exist() -> None:
    model = tiny_model()
    assert model.transformer.wte.weight.shape == (128, 32)
    assert model.lm_head.weight.shape == (128, 32)
    logits, loss = model(random_ids(3, 10))
    assert logits.shape == (3, 10, VOCAB)
    assert loss is None


def test_pad_logits_never_returned_even_when_pad_rows_dominate() -> None:
    model = tiny_model()
    with torch.no_grad():
        model.lm_head.weight[VOCAB:] = 100.0  # pad rows would win every argmax if they leaked
    logits, _ = model(random_ids(2, 5))
    assert logits.shape[-1] == VOCAB
    assert int(logits.argmax(-1).max()) < VOCAB


def test_loss_at_init_is_near_log_vocab() -> None:
    model = tiny_model()
    ids = random_ids(4, 32)
    _, loss = model(ids, targets=random_ids(4, 32, seed=2))
    assert loss is not None
    assert abs(loss.item() - math.log(VOCAB)) < 0.3


def test_loss_mask_and_ignore_index_exclude_positions() -> None:
    model = tiny_model()
    ids, targets = random_ids(2, 12), random_ids(2, 12, seed=3)
    logits, full = model(ids, targets=targets)
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :5] = True
    _, masked = model(ids, targets=targets, loss_mask=mask)
    expected = torch.nn.functional.cross_entropy(logits[0, :5], targets[0, :5])
    assert masked is not None and full is not None
    assert torch.allclose(masked, expected, atol=1e-6)
    assert not torch.allclose(masked, full)
    ignored = targets.clone()
    ignored[~mask] = -1
    _, via_ignore = model(ids, targets=ignored)
    assert via_ignore is not None
    assert torch.allclose(via_ignore, expected, atol=1e-6)


def test_tied_weights_share_storage_and_untied_do_not() -> None:
    tied = tiny_model(tie_weights=True)
    assert tied.lm_head.weight.data_ptr() == tied.transformer.wte.weight.data_ptr()
    untied = tiny_model(tie_weights=False)
    assert untied.lm_head.weight.data_ptr() != untied.transformer.wte.weight.data_ptr()


def test_init_std_of_residual_projections_and_zero_biases() -> None:
    cfg = ModelConfig(n_layer=8, n_head=4, n_embd=256, vocab_size=VOCAB)
    torch.manual_seed(0)
    model = GPT(cfg)
    expected_std = 0.02 / math.sqrt(2 * cfg.n_layer)
    block = model.blocks[0]
    assert block.attn.c_proj.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert block.mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.attn.c_attn.bias is not None
    assert torch.count_nonzero(block.attn.c_attn.bias) == 0


def test_no_bias_option_removes_biases() -> None:
    model = tiny_model(bias=False)
    assert not [n for n, _ in model.named_parameters() if n.endswith(".bias")]


def test_too_long_input_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="context_length=48"):
        tiny_model()(random_ids(1, 49))


def test_zero_vocab_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8))


def test_heads_must_divide_width_in_config() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(n_head=3, n_embd=32, vocab_size=VOCAB)


def test_sdpa_and_explicit_backends_agree() -> None:
    model = tiny_model()
    ids = random_ids(2, 40)
    sdpa_logits, _ = model(ids)
    set_attention_backend(model, "explicit")
    explicit_logits, _ = model(ids)
    assert torch.allclose(sdpa_logits, explicit_logits, atol=1e-5)


def test_explicit_attention_weights_are_causal_distributions() -> None:
    model = tiny_model()
    model.set_attention_backend("explicit", store_attention=True)
    model(random_ids(2, 9))
    for block in model.blocks:
        weights = block.attn.last_attention
        assert weights is not None and weights.shape == (2, 2, 9, 9)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 9), atol=1e-6)
        assert torch.all(weights.triu(diagonal=1) == 0)
        assert not weights.requires_grad


def test_bad_backend_and_store_without_explicit_are_config_errors() -> None:
    model = tiny_model()
    with pytest.raises(ConfigError, match="flash"):
        model.set_attention_backend("flash")
    with pytest.raises(ConfigError, match="explicit"):
        model.set_attention_backend("sdpa", store_attention=True)


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_kv_cache_greedy_matches_full_recompute(backend: str) -> None:
    model = tiny_model(seed=3)
    model.set_attention_backend(backend)
    prompt = random_ids(2, 5, seed=4)
    with torch.no_grad():
        ids = prompt
        for _ in range(30):
            logits, _ = model(ids)
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        cache = model.new_kv_cache(2)
        logits, _ = model(prompt, kv_cache=cache)
        cached_ids = prompt
        for _ in range(30):
            next_id = logits[:, -1].argmax(-1, keepdim=True)
            cached_ids = torch.cat([cached_ids, next_id], dim=1)
            logits, _ = model(next_id, kv_cache=cache)
    assert cache.length == 5 + 30
    assert torch.equal(ids, cached_ids)


def test_kv_cache_multi_token_chunks_match_one_pass() -> None:
    model = tiny_model(seed=5)
    ids = random_ids(1, 20, seed=6)
    with torch.no_grad():
        full, _ = model(ids)
        cache = model.new_kv_cache(1)
        parts = [model(ids[:, a:b], kv_cache=cache)[0] for a, b in ((0, 7), (7, 8), (8, 20))]
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


def test_kv_cache_overflow_is_a_value_error() -> None:
    model = tiny_model()
    cache = model.new_kv_cache(1)
    with torch.no_grad():
        model(random_ids(1, 48), kv_cache=cache)
        with pytest.raises(ValueError, match="context_length"):
            model(random_ids(1, 1), kv_cache=cache)
    cache.reset()
    assert cache.length == 0


def test_num_params_conventions() -> None:
    untied = tiny_model(tie_weights=False)
    counts = untied.num_params()
    assert isinstance(counts, ParamCount)
    raw = sum(p.numel() for p in untied.parameters())
    assert counts.total == raw - 2 * (128 - VOCAB) * 32
    assert counts.embedding == VOCAB * 32 + 48 * 32
    assert counts.non_embedding == counts.total - counts.embedding
    tied = tiny_model(tie_weights=True).num_params()
    assert counts.total - tied.total == VOCAB * 32  # the untied head, on the true vocab
    assert tied.embedding == counts.embedding


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "tiny"])
def test_presets_have_the_size_their_name_says(name: str) -> None:
    cfg = dataclasses.replace(preset_config(name).model, vocab_size=50257)
    with torch.device("meta"):
        total = GPT(cfg).num_params().total
    size = name.rsplit("-", 1)[1]
    expected = float(size[:-1]) * (1e9 if size.endswith("b") else 1e6)
    assert abs(total - expected) / expected < 0.05, f"{name}: {total / 1e6:.1f}M"


def test_preset_summaries_cover_every_preset() -> None:
    rows = {row.name: row for row in preset_summaries()}
    assert set(rows) == set(PRESETS)
    assert rows["gpt2-124m"].tie_weights
    assert rows["gpt2-124m"].batch == "524288 tok"
    assert rows["seed-14m"].batch == "128 seq"
    assert rows["seed-14m"].ffn_dim == 512


def test_flops_per_token_matches_palm_formula_for_gpt2_small() -> None:
    cfg = dataclasses.replace(preset_config("gpt2-124m").model, vocab_size=50257)
    matmul_params = 12 * 12 * 768 * 768 + 50257 * 768
    expected = 6 * matmul_params + 12 * 12 * 12 * 64 * 1024
    assert estimate_flops_per_token(cfg) == pytest.approx(expected)


def test_dropout_only_active_in_training() -> None:
    model = tiny_model(dropout=0.5, attn_dropout=0.5)
    ids = random_ids(1, 16)
    a, _ = model(ids)
    b, _ = model(ids)
    assert torch.equal(a, b)
    model.train()
    c, _ = model(ids)
    assert not torch.allclose(a, c)


def test_backward_reaches_every_parameter() -> None:
    model = tiny_model().train()
    _, loss = model(random_ids(2, 8), targets=random_ids(2, 8, seed=9))
    assert loss is not None
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
