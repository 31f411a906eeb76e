"""kill -9 at random moments, then `--resume`, until the horizon: the result is bit-identical.

Kills come in three kinds, drawn from a seeded generator: during start-up (before or while the
run folder is written), while a checkpoint folder is being written (seen as a hidden
`.step_*.tmp-*` folder under checkpoints/), and at a random time after a new checkpoint. After
every kill no step_* folder may be incomplete and no saved progress may be lost.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import (
    ENV,
    assert_same_checkpoint,
    hidden_entries,
    resume_command,
    step_folders,
    train_command,
    train_losses,
    valid_steps,
)

CHECKPOINT_EVERY = ["--set", "train.checkpoint_interval_steps=2"]
_TMP = re.compile(r"^\.step_(\d+)\.tmp-")
SAVE_WINDOW_STEPS = 12
"""A "save" kill that has not caught a checkpoint mid-write this many steps on kills anyway."""
KILLS_SURVIVED: list[int] = []
"""Kills per test, printed at the end of each (for bench/RELIABILITY.md)."""


def _straight_run(dataset: Path, root: Path, horizon: int) -> Path:
    run = root / f"straight_{horizon}"
    if not (run / "checkpoints" / f"step_{horizon:06d}").is_dir():
        command = train_command(dataset, run, horizon, *CHECKPOINT_EVERY)
        done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
        assert done.returncode == 0, done.stderr
    return run


@pytest.fixture(scope="module")
def straight_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("straight")


def _wait_and_kill(
    proc: subprocess.Popen[str], run: Path, kind: str, start_step: int, rng: random.Random
) -> bool:
    """Kill `proc` at a moment of the given kind; False when it finished first."""
    checkpoints = run / "checkpoints"
    deadline = time.monotonic() + 120
    if kind == "startup":
        time.sleep(rng.uniform(0.2, 4.0))
    while kind != "startup":
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"no progress in 120 s (kill kind {kind})")
        try:
            names = os.listdir(checkpoints)
        except FileNotFoundError:
            names = []
        saved = [int(n[5:]) for n in names if n.startswith("step_") and n[5:].isdigit()]
        if kind == "save":
            # A checkpoint two saves on is being written: the run moved on and is mid-save.
            steps = [int(m.group(1)) for n in names if (m := _TMP.match(n))]
            if any(s >= start_step + 4 for s in steps):
                break
            if any(s >= start_step + SAVE_WINDOW_STEPS for s in saved):
                break  # the saves were too quick to catch: kill now, between steps
            time.sleep(0.0005)
        else:
            if any(s > start_step for s in saved):
                # Tiny steps take milliseconds: a short random delay lands anywhere in a step
                # or a save without running far ahead of the checkpoint.
                time.sleep(rng.uniform(0.0, 0.05))
                break
            time.sleep(0.002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return True


def _kill_and_resume(dataset: Path, run: Path, horizon: int, kills: int, seed: int) -> int:
    """Train to `horizon` while killing the process `kills` times; the number of kills done."""
    rng = random.Random(seed)
    done_kills = 0
    best_so_far = 0
    kinds = ["startup", "save", "random", "random"]
    while True:
        if (run / "config.toml").is_file():
            command = resume_command(run)
        else:
            # Killed before the run folder had its config: start the same run again.
            command = train_command(dataset, run, horizon, *CHECKPOINT_EVERY)
        start_step = max(valid_steps(run), default=0)
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
        )
        try:
            if done_kills < kills:
                kind = kinds[done_kills % len(kinds)] if done_kills < len(kinds) else None
                kind = kind or rng.choice(["startup", "save", "save", "random", "random"])
                killed = _wait_and_kill(proc, run, kind, start_step, rng)
            else:
                killed = False
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not killed:
            assert proc.returncode == 0, err
            return done_kills
        done_kills += 1
        # Nothing saved is lost and nothing incomplete carries a checkpoint's name.
        steps = valid_steps(run)
        assert len(steps) == len(step_folders(run)), (step_folders(run), steps)
        assert max(steps, default=0) >= best_so_far
        best_so_far = max(steps, default=0)


def _check_identical(run: Path, straight: Path, horizon: int) -> None:
    name = f"step_{horizon:06d}"
    assert_same_checkpoint(run / "checkpoints" / name, straight / "checkpoints" / name)
    assert train_losses(run) == train_losses(straight)
    assert hidden_entries(run) == [] and not (run / ".lock").exists()


def test_kill9_four_times_then_bit_identical(
    dataset: Path, tmp_path: Path, straight_root: Path
) -> None:
    horizon = 60
    straight = _straight_run(dataset, straight_root, horizon)
    run = tmp_path / "killed"
    kills = _kill_and_resume(dataset, run, horizon, kills=4, seed=1)
    KILLS_SURVIVED.append(kills)
    print(f"kill -9 survived: {kills} (horizon {horizon} steps), final weights bit-identical")
    assert kills == 4
    _check_identical(run, straight, horizon)


@pytest.mark.slow
def test_kill9_sixteen_times_then_bit_identical(
    dataset: Path, tmp_path: Path, straight_root: Path
) -> None:
    horizon = 240
    straight = _straight_run(dataset, straight_root, horizon)
    run = tmp_path / "killed"
    kills = _kill_and_resume(dataset, run, horizon, kills=16, seed=2)
    KILLS_SURVIVED.append(kills)
    print(f"kill -9 survived: {kills} (horizon {horizon} steps), final weights bit-identical")
    assert kills == 16
    _check_identical(run, straight, horizon)
