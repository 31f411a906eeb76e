"""Tests for gptlab.train.plan: recipes fitted to a shrunk horizon, eval size, vocab padding."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gptlab.config import Config, ModelConfig, preset_config
from gptlab.model.gpt import GPT
from gptlab.train.plan import (
    ADJUSTABLE_FIELDS,
    EVAL_TOKEN_CAP,
    auto_eval_batches,
    fit_to_horizon,
)
from gptlab.train.runtime import Runtime


def test_preset_warmup_and_intervals_follow_a_short_horizon() -> None:
    cfg = preset_config("seed-14m")
    notes: list[str] = []
    fitted = fit_to_horizon(cfg, 3, ADJUSTABLE_FIELDS, notes)
    assert fitted.optim.warmup_steps == 0  # 10% of 3 steps
    assert fitted.train.eval_interval_steps == 1
    assert fitted.train.log_interval_steps == 0  # auto
    assert any("optim.warmup_steps 1000 -> 0" in n for n in notes)
    # 300 steps: warmup 30, an evaluation every 60 steps.
    fitted = fit_to_horizon(cfg, 300, ADJUSTABLE_FIELDS, [])
    assert (fitted.optim.warmup_steps, fitted.train.eval_interval_steps) == (30, 60)


def test_explicit_settings_and_long_horizons_are_kept() -> None:
    cfg = preset_config("seed-14m")
    notes: list[str] = []
    kept = fit_to_horizon(cfg, 3, ADJUSTABLE_FIELDS - {"optim.warmup_steps"}, notes)
    assert kept.optim.warmup_steps == 1000
    assert not any("warmup" in n for n in notes)
    # A horizon the recipe was made for changes nothing.
    notes = []
    assert fit_to_horizon(cfg, 50_000, ADJUSTABLE_FIELDS, notes) == cfg and not notes


def _runtime(device: str = "cpu", world_size: int = 1) -> Runtime:
    return Runtime(torch.device(device), torch.float32, "fp32", world_size=world_size)


def test_automatic_evaluation_is_a_small_share_within_the_device_cap() -> None:
    cfg = preset_config("seed-14m")  # micro batch 128 x 256 = 32,768 tokens
    tokens_per_step = 128 * 256
    # Evaluating every 5000 steps: capped by the CPU's token budget (2 batches, not 20).
    batches = auto_eval_batches(cfg, _runtime(), tokens_per_step, 50_000)
    assert batches == EVAL_TOKEN_CAP["cpu"] // tokens_per_step == 2
    # Every 10 steps: about 10% of the 327,680 tokens trained between evaluations.
    short = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_interval_steps=10))
    assert auto_eval_batches(short, _runtime(), tokens_per_step, 100) == 1
    explicit = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_batches=7))
    assert auto_eval_batches(explicit, _runtime(), tokens_per_step, 100) == 7


def test_padded_and_unpadded_vocab_give_the_same_loss() -> None:
    torch.manual_seed(0)
    shape = {"n_layer": 2, "n_head": 2, "n_embd": 32, "context_length": 16, "vocab_size": 70}
    padded = GPT(ModelConfig(**shape, vocab_multiple=64, tie_weights=False))
    plain = GPT(ModelConfig(**shape, vocab_multiple=1, tie_weights=False))
    assert padded.lm_head.weight.shape[0] == 128 and plain.lm_head.weight.shape[0] == 70
    state = {}
    for name, tensor in padded.state_dict().items():
        rows = plain.state_dict()[name].shape
        state[name] = tensor[: rows[0]] if tensor.shape != rows else tensor
    plain.load_state_dict(state)
    x = torch.randint(0, 70, (3, 16))
    y = torch.randint(0, 70, (3, 16))
    with torch.no_grad():
        _, loss_padded = padded(x, y)
        _, loss_plain = plain(x, y)
    assert loss_padded is not None and loss_plain is not None
    assert float(loss_padded) == pytest.approx(float(loss_plain), abs=1e-5)


def test_auto_vocab_multiple_pads_on_cuda_only() -> None:
    from gptlab.train.plan import resolve_vocab_multiple

    cfg = Config(model=ModelConfig(vocab_size=257))
    assert resolve_vocab_multiple(cfg, torch.device("cpu")).model.padded_vocab_size == 257
    assert resolve_vocab_multiple(cfg, torch.device("cuda", 0)).model.padded_vocab_size == 320
    given = Config(model=ModelConfig(vocab_size=257, vocab_multiple=128))
    assert resolve_vocab_multiple(given, torch.device("cpu")).model.padded_vocab_size == 384


def test_document_mode_says_how_much_of_the_data_lies_past_the_context(tmp_path) -> None:
    from gptlab.config import apply_overrides
    from gptlab.data.prepare import prepare
    from gptlab.train.plan import make_plan

    data = tmp_path / "data"
    prepare("builtin", data, tokenizer="byte", builtin_stories=40, num_workers=1, progress=False)
    base = [f"data.path={data}", "train.max_steps=5", "data.batch_mode=document"]
    cut = apply_overrides(
        preset_config("tiny"), [*base, f"run.out_dir={tmp_path / 'a'}", "model.context_length=32"]
    )
    notes = make_plan(cut, _runtime(), resume=False).notes
    assert any("past the first 32 tokens of their document" in n for n in notes), notes
    whole = apply_overrides(
        preset_config("tiny"),
        [*base, f"run.out_dir={tmp_path / 'b'}", "model.context_length=2048"],
    )
    assert not any("past the first" in n for n in make_plan(whole, _runtime(), False).notes)
