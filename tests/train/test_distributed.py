"""Tests for training on several processes: DDP and FSDP2 on CPU with gloo, launched by torchrun.

The reference is one process with micro batch 8; two ranks with micro batch 4 (and one process
with micro batch 4 x 2 accumulation) see the same 8 samples per step, so the loss curves agree to
float tolerance, and checkpoints written by one layout resume in the other.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from gptlab.config import Config, config_from_dict, save_config
from gptlab.data.prepare import prepare
from gptlab.train import train
from gptlab.train.checkpoint import load_run
from gptlab.train.runtime import Runtime, clip_gradients, no_sync

STEPS = 10
LOSS_RTOL = 1e-4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "builtin"
    prepare(
        "builtin",
        out,
        tokenizer="byte",
        builtin_stories=80,
        val_fraction=0.1,
        num_workers=1,
        progress=False,
    )
    return out


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def tiny_config(data_dir: Path, run: Path, **train_values: Any) -> Config:
    return config_from_dict(
        {
            "data": {"path": str(data_dir)},
            "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "context_length": 32},
            # Clipping at 0.5 is active in the first steps, so the clipped path is compared too.
            "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 3, "grad_clip": 0.5},
            "train": {
                "micro_batch_size": 4,
                "batch_size": 8,
                "max_steps": STEPS,
                "log_interval_steps": 1,
                "eval_interval_steps": 5,
                "eval_batches": 2,
                "checkpoint_interval_steps": 5,
                "keep_last_checkpoints": 5,
                "sample_max_new_tokens": 4,
                "device": "cpu",
                **train_values,
            },
            "run": {"out_dir": str(run), "report": False},
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(args: list[str], nproc: int = 2) -> None:
    """`gptlab train ARGS` on `nproc` CPU processes (gloo), one thread each."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        "-m",
        "gptlab",
        "train",
        "--no-progress",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]


def torchrun_new(cfg: Config, tmp_path: Path, nproc: int = 2) -> None:
    config_file = tmp_path / f"{Path(cfg.run.out_dir).name}.toml"
    save_config(cfg, config_file)
    torchrun(["--config", str(config_file)], nproc)


def records(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records(run, "train")}


def assert_same_curve(run: Path, reference: dict[int, float], steps: range) -> None:
    got = losses(run)
    for step in steps:
        assert got[step] == pytest.approx(reference[step], rel=LOSS_RTOL), f"step {step}"


def keep_only_checkpoint(source: Path, target: Path, step: int) -> None:
    """A copy of a run folder that stopped after `step` (later checkpoints removed)."""
    shutil.copytree(source, target)
    for folder in (target / "checkpoints").glob("step_*"):
        if folder.name != f"step_{step:06d}":
            shutil.rmtree(folder)
    (target / "checkpoints" / "best.json").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def reference(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One process, one micro batch of 8 per step: the curve every layout must reproduce."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("single") / "single8"
    train(tiny_config(dataset, run, micro_batch_size=8, batch_size=0), progress=False)
    return {"losses": losses(run), "evals": records(run, "eval")}


@pytest.mark.slow
def test_ddp_matches_single_process_and_resumes_across_layouts(
    dataset: Path, tmp_path: Path, reference: dict[str, Any]
) -> None:
    ref = reference["losses"]
    assert ref[STEPS] < ref[1]  # it learns, so equal curves are not trivially equal

    # Two ranks x micro batch 4.
    ddp = tmp_path / "ddp"
    torchrun_new(tiny_config(dataset, ddp), tmp_path)
    assert_same_curve(ddp, ref, range(1, STEPS + 1))
    # Rank 0 alone writes: one record per step, one end record, samples once per evaluation.
    assert [r["step"] for r in records(ddp, "train")] == list(range(1, STEPS + 1))
    assert len(records(ddp, "end")) == 1
    samples = (ddp / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 2
    env = json.loads((ddp / "env.json").read_text())
    assert env["world_size"] == 2

    # The DDP checkpoint after step 5 resumes in one process (micro 4 x 2 accumulation).
    single = tmp_path / "ddp_then_single"
    keep_only_checkpoint(ddp, single, 5)
    result = train(tiny_config(dataset, single), resume=True, progress=False)
    assert result.steps == STEPS
    assert_same_curve(single, ref, range(6, STEPS + 1))

    # A one-process checkpoint (micro 4 x 2 accumulation) resumes on two ranks.
    accum = tmp_path / "accum"
    train(tiny_config(dataset, accum), progress=False)
    assert_same_curve(accum, ref, range(1, STEPS + 1))
    # train.eval_batches is global: one process scores both micro batches, two processes one
    # each, so the same weights give the same val loss whatever the number of processes.
    ddp_evals, one_evals = records(ddp, "eval"), records(accum, "eval")
    assert [r["step"] for r in ddp_evals] == [r["step"] for r in one_evals] == [5, 10]
    for got, want in zip(ddp_evals, one_evals, strict=True):
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-6)
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
        assert got["param_norm"] == pytest.approx(want["param_norm"], rel=1e-5)
    back = tmp_path / "single_then_ddp"
    keep_only_checkpoint(accum, back, 5)
    torchrun(["--resume", str(back)])
    assert_same_curve(back, ref, range(6, STEPS + 1))
    assert [r["step"] for r in records(back, "train")] == list(range(1, STEPS + 1))


@pytest.mark.slow
def test_fsdp_trains_like_single_process_and_checkpoints_load_anywhere(
    dataset: Path, tmp_path: Path, reference: dict[str, Any]
) -> None:
    ref = reference["losses"]
    fsdp = tmp_path / "fsdp"
    cfg = tiny_config(dataset, fsdp, parallel="fsdp")
    torchrun_new(cfg, tmp_path)
    assert_same_curve(fsdp, ref, range(1, STEPS + 1))
    assert len((fsdp / "samples.jsonl").read_text().splitlines()) == 2

    # The checkpoint is an ordinary one: it loads in one process, tied weights included.
    loaded = load_run(fsdp)
    assert loaded.step == STEPS
    model = loaded.model
    assert isinstance(model, nn.Module)
    assert model.lm_head.weight is model.transformer.wte.weight

    # The FSDP checkpoint after step 5 resumes in one process ...
    single = tmp_path / "fsdp_then_single"
    keep_only_checkpoint(fsdp, single, 5)
    train(tiny_config(dataset, single, parallel="fsdp"), resume=True, progress=False)
    assert_same_curve(single, ref, range(6, STEPS + 1))
    # ... and under FSDP again (the sharded optimizer loads the full safetensors state).
    again = tmp_path / "fsdp_again"
    keep_only_checkpoint(fsdp, again, 5)
    torchrun(["--resume", str(again)])
    assert_same_curve(again, ref, range(6, STEPS + 1))


# ---- the per-step helpers, in one process with a world of one ------------------------------------


@pytest.fixture
def process_group(tmp_path: Path) -> Any:
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    torch.distributed.destroy_process_group()


def test_no_sync_turns_gradient_sync_off_only_on_micro_steps(process_group: None) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(nn.Linear(4, 4))
    with no_sync(ddp, True):
        assert not ddp.require_backward_grad_sync
    assert ddp.require_backward_grad_sync
    with no_sync(ddp, False):
        assert ddp.require_backward_grad_sync

    sharded: Any = fully_shard(nn.Sequential(nn.Linear(4, 4)))
    state = sharded._get_fsdp_state()._fsdp_param_group
    with no_sync(sharded, True):
        assert not state.reduce_grads
    assert state.reduce_grads


def test_clip_gradients_on_sharded_parameters_matches_plain(process_group: None) -> None:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    sharded = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    sharded.load_state_dict(plain.state_dict())
    fully_shard(sharded)
    x = torch.randn(5, 8)
    for model in (plain, sharded):
        model(x).square().sum().backward()
    norm_plain = clip_gradients(plain, 0.1)
    norm_sharded = clip_gradients(sharded, 0.1)
    assert norm_plain == pytest.approx(norm_sharded, rel=1e-6)
    assert norm_plain > 0.1  # so clipping did something
    for a, b in zip(plain.parameters(), sharded.parameters(), strict=True):
        assert b.grad is not None and a.grad is not None
        torch.testing.assert_close(a.grad, b.grad.full_tensor())


def test_single_process_runtime_helpers_are_identities() -> None:
    rt = Runtime(device=torch.device("cpu"), dtype=torch.float32, precision="fp32")
    value = torch.tensor(2.5)
    assert rt.mean_over_ranks(value) is value
    assert rt.any_rank(True) and not rt.any_rank(False)
    assert rt.broadcast_int(7) == 7
    assert not rt.sharded
