"""Disk full and write errors: a clear stop, the previous checkpoint intact, nothing claimed.

In process, the checkpoint writer or the metrics writer is made to raise OSError(ENOSPC); in a
subprocess, RLIMIT_FSIZE makes the kernel refuse a file past 200 KB (EFBIG, SIGXFSZ ignored),
which the tiny model's optimizer file (about 300 KB) exceeds while its model file does not.
"""

from __future__ import annotations

import errno
import json
import resource
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from reliability_helpers import (
    ENV,
    assert_same_checkpoint,
    hidden_entries,
    resume_command,
    run_cli,
    train_command,
    valid_steps,
)

import gptlab.train.checkpoint as ckpt
from gptlab.config import Config, config_from_dict
from gptlab.errors import CheckpointError, GptlabError
from gptlab.train import train
from gptlab.train.checkpoint import load_run
from gptlab.train.metrics import MetricsWriter

FILE_LIMIT_BYTES = 200_000


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _config(dataset: Path, run: Path, max_steps: int) -> Config:
    return config_from_dict(
        {
            "data": {"path": str(dataset)},
            "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "context_length": 32},
            "train": {
                "micro_batch_size": 8,
                "max_steps": max_steps,
                "log_interval_steps": 1,
                "eval_interval_steps": 0,
                "checkpoint_interval_steps": 2,
                "keep_last_checkpoints": 5,
            },
            "run": {"out_dir": str(run), "report": False},
        }
    )


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_checkpoint_write_fails_with_enospc(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    real = ckpt.save_file
    calls = {"n": 0}

    def fills_the_disk(tensors: dict[str, torch.Tensor], path: str, metadata: Any = None) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # step 6: the model file of the third checkpoint
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(ckpt, "save_file", fills_the_disk)
    with pytest.raises(CheckpointError) as caught:
        train(_config(dataset, run, 8), progress=False)
    message = str(caught.value)
    assert str(run / "checkpoints" / "step_000006") in message
    assert "no space left" in message and "Free disk space" in message
    assert "--resume" in message
    # Nothing half-written, nothing claimed: steps 2 and 4 are the checkpoints, intact.
    assert valid_steps(run) == [2, 4]
    assert hidden_entries(run) == [] and not (run / ".lock").exists()
    end = _records(run)[-1]
    assert end["kind"] == "end" and end["reason"] == "error" and end["step"] == 6
    assert load_run(run, "step_000004").step == 4  # the previous checkpoint loads
    # Space is back: resume finishes, bit-identical to a run that never failed.
    monkeypatch.setattr(ckpt, "save_file", real)
    train(_config(dataset, run, 8), resume=True, progress=False)
    straight = tmp_path / "straight"
    train(_config(dataset, straight, 8), progress=False)
    name = "checkpoints/step_000008"
    assert_same_checkpoint(run / name, straight / name)


def test_metrics_write_fails_with_enospc(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    real = MetricsWriter._write

    def full_at_step_5(self: MetricsWriter, kind: str, keys: Any, values: dict[str, Any]) -> None:
        if values.get("step") == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real(self, kind, keys, values)

    monkeypatch.setattr(MetricsWriter, "_write", full_at_step_5)
    with pytest.raises(GptlabError) as caught:
        train(_config(dataset, run, 8), progress=False)
    message = str(caught.value)
    assert str(run) in message and "no space left" in message and "metrics.jsonl" in message
    assert "Free disk space" in message
    assert valid_steps(run) == [2, 4] and not (run / ".lock").exists()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))
    # Ignored, the signal becomes an EFBIG error from write() instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_file_size_limit_at_the_cli(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = run_cli(train_command(dataset, run, 4, "--set", "train.checkpoint_interval_steps=2"))
    assert first.returncode == 0, first.stderr
    assert valid_steps(run) == [2, 4]
    before = (run / "checkpoints" / "step_000004" / "model.safetensors").read_bytes()
    done = subprocess.run(
        resume_command(run, "--max-steps", "8"),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    err = " ".join(done.stderr.split())
    assert "a file size limit was hit" in err and "step_000006" in err, err
    assert "Free disk space" in err and "--resume" in err
    assert valid_steps(run) == [2, 4] and hidden_entries(run) == []
    after = (run / "checkpoints" / "step_000004" / "model.safetensors").read_bytes()
    assert after == before
    records = _records(run)
    assert records[-1]["reason"] == "error"
    assert not (run / ".lock").exists()
