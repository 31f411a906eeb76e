"""A crash during a checkpoint save or prune never damages the previous good checkpoint.

Hard crashes are real: a child process saves with a patched writer that calls os._exit in the
middle (no cleanup runs, as with kill -9 or a power cut). The parent then checks what is left:
only hidden `.step_N.tmp-*` / `.step_N.trash-*` folders, which are never chosen on resume and
are removed by the next process that takes the run folder's lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gptlab.config import Config, ModelConfig, OptimConfig
from gptlab.model.gpt import GPT
from gptlab.train.checkpoint import (
    acquire_lock,
    latest_valid_checkpoint,
    list_checkpoints,
    load_model_weights,
    release_lock,
    resolve_checkpoint,
    save_checkpoint,
)
from gptlab.train.optim import build_optimizer

MODEL = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=16, vocab_size=50)

_CHILD = """
import os, shutil, sys, torch
from pathlib import Path
import gptlab.train.checkpoint as ckpt
from gptlab.config import Config, ModelConfig, OptimConfig
from gptlab.model.gpt import GPT
from gptlab.train.optim import build_optimizer

run, where = Path(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=16, vocab_size=50))
optimizer = build_optimizer(model, OptimConfig(lr=1e-2), "cpu")

def save(step):
    ckpt.save_checkpoint(run, step, model, optimizer, {"tokens": step}, keep_last=2)

save(2)
save(4)
if where == "tensor-file":
    real = ckpt.save_file
    def half_then_die(tensors, path, metadata=None):
        real(tensors, path, metadata=metadata)
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)
        os._exit(9)
    ckpt.save_file = half_then_die
elif where == "state-file":
    real_json = ckpt.atomic_write_json
    def die_in_state(path, obj):
        Path(path).write_text('{"format_version": 1, "st')
        os._exit(9)
    ckpt.atomic_write_json = die_in_state
elif where == "prune":
    def die_in_rmtree(path, ignore_errors=False):
        first = sorted(Path(path).iterdir())[0]
        first.unlink()
        os._exit(9)
    shutil.rmtree = die_in_rmtree
with torch.no_grad():
    for p in model.parameters():
        p.add_(1.0)
save(6)
sys.exit(3)  # not reached: the writer died above
"""


def _crash_during(run: Path, where: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(run), where],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 9, done.stderr


def _hidden(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("."))


def _steps(run: Path, verify: bool = True) -> list[str]:
    return [p.name for p in list_checkpoints(run, verify=verify)]


@pytest.mark.parametrize("where", ["tensor-file", "state-file"])
def test_hard_crash_mid_save_keeps_previous_and_is_never_chosen(tmp_path: Path, where: str) -> None:
    run = tmp_path / "run"
    _crash_during(run, where)
    # The half-written step 6 exists only under atomic_directory's hidden temporary name.
    hidden = _hidden(run)
    assert len(hidden) == 1 and hidden[0].startswith(".step_000006.tmp-"), hidden
    assert not (run / "checkpoints" / "step_000006").exists()
    assert _steps(run) == ["step_000002", "step_000004"]
    assert resolve_checkpoint(run).name == "step_000004"
    found = latest_valid_checkpoint(run)
    assert found is not None and found[0].name == "step_000004"
    model = GPT(MODEL)
    load_model_weights(model, found[0])  # the previous good checkpoint still loads
    # The next owner of the run folder removes the leftovers.
    lock = acquire_lock(run)
    try:
        assert _hidden(run) == []
        assert _steps(run) == ["step_000002", "step_000004"]
    finally:
        release_lock(lock)


def test_hard_crash_mid_prune_shows_no_half_deleted_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _crash_during(run, "prune")
    # step 2 was being pruned: it was first renamed out of the step_* names, then cut short.
    hidden = _hidden(run)
    assert len(hidden) == 1 and hidden[0].startswith(".step_000002.trash-"), hidden
    assert _steps(run, verify=False) == _steps(run) == ["step_000004", "step_000006"]
    lock = acquire_lock(run)
    release_lock(lock)
    assert _hidden(run) == []


def test_interrupt_mid_save_cleans_up_and_keeps_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C (KeyboardInterrupt) inside the writer: the temporary folder is removed at once."""
    import gptlab.train.checkpoint as ckpt

    torch.manual_seed(0)
    model = GPT(MODEL)
    optimizer = build_optimizer(model, OptimConfig(lr=1e-2), "cpu")
    cfg = Config(model=MODEL)
    save_checkpoint(tmp_path, 2, model, optimizer, {"tokens": 2}, config=cfg)
    real = ckpt.save_file

    def interrupted(tensors: dict[str, torch.Tensor], path: str, metadata: object = None) -> None:
        real(tensors, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 4, model, optimizer, {"tokens": 4}, config=cfg)
    assert _hidden(tmp_path) == []
    assert _steps(tmp_path) == ["step_000002"]
