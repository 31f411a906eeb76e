"""SIGINT and SIGTERM: a checkpoint is saved and the exit code is 130/143; a second Ctrl-C
stops at once without damaging any checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import ENV, hidden_entries, step_folders, train_command, valid_steps


def _start(dataset: Path, run: Path, *extra: str) -> subprocess.Popen[str]:
    command = train_command(dataset, run, 100_000, *extra)
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )


def _wait_for_train_records(proc: subprocess.Popen[str], run: Path, count: int) -> int:
    """Wait until metrics.jsonl has `count` train records; the last step logged."""
    deadline = time.monotonic() + 120
    metrics = run / "metrics.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if metrics.is_file():
            lines = [ln for ln in metrics.read_text().splitlines() if '"train"' in ln]
            if len(lines) >= count:
                try:
                    return int(json.loads(lines[-1])["step"])
                except ValueError:
                    pass  # a line being written
        time.sleep(0.05)
    raise AssertionError("the run made no progress in 120 s")


def _end_record(run: Path) -> dict[str, object]:
    record: dict[str, object] = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    return record


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_checkpoint_and_exits(
    dataset: Path, tmp_path: Path, signum: int, exit_code: int
) -> None:
    run = tmp_path / "run"
    proc = _start(dataset, run)  # checkpoints only at the end or on a stop
    try:
        _wait_for_train_records(proc, run, 3)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exit_code, err
    assert "--resume" in err and "Traceback" not in err
    end = _end_record(run)
    assert end["kind"] == "end" and end["reason"] == "interrupted"
    assert valid_steps(run) == [end["step"]]
    assert hidden_entries(run) == [] and not (run / ".lock").exists()


def test_second_ctrl_c_exits_at_once(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    # 1024 micro batches a step (a second or more): the second Ctrl-C lands inside a step,
    # which it must cut short instead of waiting for it to finish.
    proc = _start(
        dataset,
        run,
        "--set", "train.batch_size=8192", "--set", "train.checkpoint_interval_steps=1",
    )  # fmt: skip
    try:
        _wait_for_train_records(proc, run, 2)
        start_s = time.monotonic()
        last_step = _wait_for_train_records(proc, run, 3)
        step_s = time.monotonic() - start_s
        saved_before = valid_steps(run)
        time.sleep(0.3)  # past step 3's checkpoint, into step 4
        proc.send_signal(signal.SIGINT)
        # A quick double press; two signals within a few ms are one to the kernel and Python.
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        second_s = time.monotonic()
        _, err = proc.communicate(timeout=60)
        exit_s = time.monotonic() - second_s
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"second Ctrl-C: exited {exit_s:.2f} s after it (a step takes {step_s:.2f} s)")
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert exit_s < 5.0
    # The step running at the second Ctrl-C was abandoned, not finished and saved.
    assert "Training stopped" not in err, err
    assert _end_record(run)["step"] == last_step
    assert max(valid_steps(run)) == last_step
    # Whatever was being written when the second Ctrl-C came, every step_* folder is whole.
    assert len(valid_steps(run)) == len(step_folders(run)) >= 1
    assert max(valid_steps(run)) >= max(saved_before, default=0)
    assert hidden_entries(run) == [] and not (run / ".lock").exists()
    assert _end_record(run)["reason"] == "interrupted"
