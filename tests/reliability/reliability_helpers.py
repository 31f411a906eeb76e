"""Helpers for the fault tests: train commands, checkpoint checks, metrics readers.

Imported by name (conftest.py puts this folder on sys.path).

Every training here runs `gptlab train` in a subprocess (one OpenMP thread) so that a test can
kill it, limit its file sizes or signal it exactly as a user's shell or a full disk would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from gptlab.train.checkpoint import CHECKPOINTS_DIR, list_checkpoints

GPTLAB = Path(sys.executable).with_name("gptlab")
TINY = [
    "--device", "cpu", "--no-progress",
    "--set", "model.n_layer=2", "--set", "model.n_head=2", "--set", "model.n_embd=32",
    "--set", "model.context_length=32", "--set", "train.micro_batch_size=8",
    "--set", "train.eval_interval_steps=0", "--set", "train.log_interval_steps=1",
    "--set", "run.report=false",
]  # fmt: skip
"""Flags of the tiny run every fault test trains: 2 layers, 32 wide, 32 tokens of context."""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train_command(dataset: Path, run: Path, max_steps: int, *extra: str) -> list[str]:
    """`gptlab train` of the tiny model into `run` for `max_steps` steps."""
    return [
        str(GPTLAB), "train", "--data", str(dataset), "--out", str(run),
        "--max-steps", str(max_steps), *TINY, *extra,
    ]  # fmt: skip


def resume_command(run: Path, *extra: str) -> list[str]:
    """`gptlab train --resume run`."""
    return [str(GPTLAB), "train", "--resume", str(run), "--no-progress", *extra]


def run_cli(command: list[str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a gptlab command to the end, capturing its output."""
    return subprocess.run(
        command, capture_output=True, text=True, env=ENV, timeout=timeout_s, check=False
    )


def assert_tensor_files_equal(a: Path, b: Path) -> None:
    """Two safetensors files hold the same names and bit-identical tensors."""
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys(), f"{a} and {b} hold different tensors"
    for key in ta:
        assert torch.equal(ta[key], tb[key]), f"{a}: {key} differs from {b}"


def assert_same_checkpoint(a: Path, b: Path) -> None:
    """Model and optimizer state of two checkpoint folders are bit for bit the same."""
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert_tensor_files_equal(a / name, b / name)


def valid_steps(run: Path) -> list[int]:
    """Steps of the checkpoints whose files match their sha256."""
    return [int(p.name[5:]) for p in list_checkpoints(run, verify=True)]


def step_folders(run: Path) -> list[str]:
    """Names of every step_* folder under checkpoints/ (valid or not)."""
    root = run / CHECKPOINTS_DIR
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name.startswith("step_"))


def hidden_entries(run: Path) -> list[str]:
    """Temporary or trash entries (names starting with a dot) under checkpoints/."""
    root = run / CHECKPOINTS_DIR
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def train_losses(run: Path) -> list[tuple[int, float]]:
    """(step, loss) of every train record in metrics.jsonl."""
    import json

    out = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["kind"] == "train":
            out.append((record["step"], record["loss"]))
    return out
