"""A diverging run at the command line: the NaN step is caught, not applied, and reported.

A learning rate of 1e30 makes the first update blow the weights up, so the second step's loss is
NaN. The process must exit 2 with one message naming the step, save the state before that step
(bit-identical to a run that stopped after step 1) and leave a run folder that resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

from reliability_helpers import (
    assert_same_checkpoint,
    hidden_entries,
    resume_command,
    run_cli,
    train_command,
    valid_steps,
)

EXPLODE = [
    "--set", "optim.lr=1e30", "--set", "optim.warmup_steps=0",
    "--set", "optim.schedule=constant", "--set", "train.checkpoint_interval_steps=100",
]  # fmt: skip


def _records(run: Path) -> list[dict[str, object]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_nan_loss_stops_the_run_before_the_step_is_applied(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "diverged"
    done = run_cli(train_command(dataset, run, 30, *EXPLODE))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "Training diverged at step 2" in message
    assert "That step was not applied" in message and "lower learning rate" in message

    records = _records(run)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert records[-1] == {**records[-1], "kind": "end", "step": 1, "reason": "nan"}
    assert valid_steps(run) == [1]
    assert hidden_entries(run) == [] and not (run / ".lock").exists()

    # The saved state is step 1's, bit for bit: step 2's update never reached the weights.
    reference = tmp_path / "one_step"
    assert run_cli(train_command(dataset, reference, 1, *EXPLODE)).returncode == 0
    name = "checkpoints/step_000001"
    assert_same_checkpoint(run / name, reference / name)

    # Resuming the same run diverges at the same step again, and says so the same way.
    again = run_cli(resume_command(run))
    assert again.returncode == 2 and "diverged at step 2" in " ".join(again.stderr.split())
    assert valid_steps(run) == [1]
