"""Tests for gptlab.train.checkpoint: round trip, tied weights, hashes, half-written folders,
retention of the last N plus the best, and the run-folder lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gptlab.config import Config, ModelConfig, OptimConfig
from gptlab.errors import CheckpointError, ConfigError
from gptlab.model.gpt import GPT
from gptlab.train.checkpoint import (
    acquire_lock,
    check_checkpoint,
    latest_valid_checkpoint,
    list_checkpoints,
    load_model_weights,
    load_optimizer_state,
    read_best,
    release_lock,
    resolve_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from gptlab.train.optim import build_optimizer

MODEL = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=16, vocab_size=50)


def _model_and_optimizer(seed: int = 0, tie: bool = True):
    torch.manual_seed(seed)
    model = GPT(ModelConfig(**{**MODEL.__dict__, "tie_weights": tie}))
    optimizer = build_optimizer(model, OptimConfig(lr=1e-2), "cpu")
    x = torch.randint(0, 50, (4, 16))
    _, loss = model(x, x)
    assert loss is not None
    loss.backward()
    optimizer.step()
    return model, optimizer


def _save(run: Path, step: int, model, optimizer, val_loss=None, keep_last=2) -> Path:
    return save_checkpoint(
        run,
        step,
        model,
        optimizer,
        {"tokens": step * 64, "epoch": 0.0},
        config=Config(model=MODEL),
        keep_last=keep_last,
        val_loss=val_loss,
    )


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_restores_model_and_optimizer(tmp_path: Path, tie: bool) -> None:
    model, optimizer = _model_and_optimizer(0, tie)
    path = _save(tmp_path, 7, model, optimizer)
    assert path.name == "step_000007"
    stored = load_file(str(path / "model.safetensors"))
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in stored)
    assert ("lm_head.weight" in stored) == (not tie)
    state = check_checkpoint(path)
    assert state["step"] == 7 and state["tokens"] == 448
    assert state["config"]["model"]["n_embd"] == 32

    twin, twin_opt = _model_and_optimizer(1, tie)
    load_model_weights(twin, path)
    load_optimizer_state(twin_opt, path)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    if tie:
        assert twin.lm_head.weight.data_ptr() == twin.transformer.wte.weight.data_ptr()
    sa, sb = optimizer.state_dict()["state"], twin_opt.state_dict()["state"]
    for pid in sa:
        for key in sa[pid]:
            assert torch.equal(sa[pid][key], sb[pid][key])


def test_compiled_or_ddp_style_keys_are_cleaned(tmp_path: Path) -> None:
    model, optimizer = _model_and_optimizer()
    wrapper = torch.nn.Module()
    wrapper.module = model  # the attribute name DDP uses
    path = _save(tmp_path, 1, wrapper, optimizer)
    keys = load_file(str(path / "model.safetensors")).keys()
    assert "transformer.wte.weight" in keys
    assert not any("module." in k for k in keys)
    twin, _ = _model_and_optimizer(3)
    load_model_weights(twin, path)
    assert torch.equal(twin.transformer.wte.weight, model.transformer.wte.weight)


def test_rng_state_round_trip(tmp_path: Path) -> None:
    import random

    import numpy as np

    model, optimizer = _model_and_optimizer()
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    path = _save(tmp_path, 1, model, optimizer)
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(check_checkpoint(path)["rng"])
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_tensor_file_is_named(tmp_path: Path, damage: str) -> None:
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path, 3, model, optimizer)
    target = path / "model.safetensors"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[-5] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        check_checkpoint(path)


def test_resume_skips_corrupt_and_half_written_checkpoints(tmp_path: Path, caplog) -> None:
    model, optimizer = _model_and_optimizer()
    _save(tmp_path, 1, model, optimizer, keep_last=5)
    newest = _save(tmp_path, 2, model, optimizer, keep_last=5)
    (newest / "optimizer.safetensors").write_bytes(b"garbage")
    half = tmp_path / "checkpoints" / "step_000003"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    (tmp_path / "checkpoints" / ".step_000004.tmp-abc").mkdir()

    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_000001", "step_000002"]
    found = latest_valid_checkpoint(tmp_path)
    assert found is not None and found[0].name == "step_000001"
    assert "optimizer.safetensors" in caplog.text


def test_keep_last_n_plus_best(tmp_path: Path) -> None:
    model, optimizer = _model_and_optimizer()
    losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: 2.5, 5: None}
    for step, val in losses.items():
        _save(tmp_path, step, model, optimizer, val_loss=val, keep_last=2)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_000002", "step_000004", "step_000005"]
    best = read_best(tmp_path)
    assert best is not None and best["checkpoint"] == "step_000002" and best["val_loss"] == 1.0
    assert resolve_checkpoint(tmp_path, "best").name == "step_000002"
    assert resolve_checkpoint(tmp_path).name == "step_000005"
    assert resolve_checkpoint(tmp_path, "4").name == "step_000004"
    # A new best releases the old one to normal retention.
    _save(tmp_path, 6, model, optimizer, val_loss=0.5, keep_last=2)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_000005", "step_000006"]
    with pytest.raises(CheckpointError, match="step_000002"):
        resolve_checkpoint(tmp_path, "step_000002")


def test_no_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve_checkpoint(tmp_path)


def test_lock_refuses_live_pid_and_takes_over_dead(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(ConfigError, match=str(sleeper.pid)):
            acquire_lock(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    lock = acquire_lock(tmp_path)  # the owner is dead now
    assert lock.read_text().strip() == str(os.getpid())
    release_lock(lock)
    assert not lock.exists()


def test_state_json_is_plain_json(tmp_path: Path) -> None:
    model, optimizer = _model_and_optimizer()
    path = _save(tmp_path, 2, model, optimizer, val_loss=1.5)
    state = json.loads((path / "state.json").read_text())
    assert set(state["sha256"]) == {"model.safetensors", "optimizer.safetensors"}
    assert {"python", "numpy", "torch", "cuda"} <= set(state["rng"])
    assert state["val_loss"] == 1.5 and state["format_version"] == 1
