"""Tests for `gptlab train`: a real run, resume, user errors as one message, SIGINT stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptlab.cli import main
from gptlab.data.prepare import prepare

GPTLAB = Path(sys.executable).with_name("gptlab")
TINY = [
    "--set", "model.n_layer=2", "--set", "model.n_head=2", "--set", "model.n_embd=32",
    "--set", "model.context_length=32", "--set", "train.micro_batch_size=4",
    "--set", "train.eval_batches=1", "--set", "train.sample_max_new_tokens=4",
    "--set", "run.report=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "builtin"
    prepare("builtin", out, tokenizer="byte", builtin_stories=40, num_workers=1, progress=False)
    return out


def test_train_then_resume(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(dataset), "--out", str(run)]
    rc = main([*args, "--max-steps", "4", "--device", "cpu", "--no-progress", *TINY])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "parameters" in captured.err and "non-embedding" in captured.err
    assert "val loss" in captured.out
    assert (run / "checkpoints" / "step_000004" / "state.json").is_file()
    env = json.loads((run / "env.json").read_text())
    assert env["command_line"][:2] == ["gptlab", "train"] and "--max-steps" in env["command_line"]

    rc = main(["train", "--resume", str(run), "--max-steps", "6", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert (run / "checkpoints" / "step_000006").is_dir()
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6

    rc = main(["train", "--resume", str(run), "--set", "model.n_embd=64"])
    err = capsys.readouterr().err
    assert rc == 2 and "model.n_embd" in err and "Traceback" not in err


def test_piped_train_prints_step_lines_under_80_columns(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No TTY (captured, as in a pipe or CI): the progress bar gives way to plain step lines.
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(dataset), "--out", str(run)]
    intervals = ["--set", "train.log_interval_steps=2", "--set", "train.eval_interval_steps=0"]
    rc = main([*args, "--max-steps", "6", "--device", "cpu", *TINY, *intervals])
    err = capsys.readouterr().err
    assert rc == 0, err
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/6", "2/6", "4/6", "6/6"], err
    for line in err.splitlines():
        assert len(line) < 80, line
    assert all(f" {key} " in lines[-1] for key in ("loss", "lr", "grad", "tok/s")), lines[-1]


def test_optimizer_and_parallel_flags_reach_the_config(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import tomllib

    run = tmp_path / "muon"
    args = ["train", "--data", str(dataset), "--out", str(run), "--max-steps", "2"]
    rc = main([*args, "--device", "cpu", "--no-progress", "--optimizer", "muon", *TINY,
               "--parallel", "ddp"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    saved = tomllib.loads((run / "config.toml").read_text())
    assert saved["optim"]["name"] == "muon" and saved["train"]["parallel"] == "ddp"
    rc = main([*args, "--device", "cpu", "--optimizer", "sgd"])
    err = capsys.readouterr().err
    assert rc == 2 and "optim.name" in err and "adamw" in err and "Traceback" not in err


def test_resume_may_change_the_micro_batch(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    def losses(run: Path) -> dict[int, float]:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return {r["step"]: r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"}

    common = [
        "--device", "cpu", "--no-progress", *TINY, "--set", "train.batch_size=8",
        "--set", "train.log_interval_steps=1", "--set", "train.eval_interval_steps=0",
        # Set explicitly, so it stays: the 2- and 4-step runs share steps 1-2's learning rates.
        "--set", "optim.warmup_steps=100",
    ]  # fmt: skip
    straight, halted = tmp_path / "straight", tmp_path / "halted"
    for run, steps in ((straight, "4"), (halted, "2")):
        args = ["train", "--data", str(dataset), "--out", str(run), "--max-steps", steps]
        assert main([*args, *common]) == 0, capsys.readouterr().err
    # The out-of-memory advice: resume with a smaller (here: larger) micro batch, same batch.
    rc = main(["train", "--resume", str(halted), "--max-steps", "4", "--no-progress",
               "--set", "train.micro_batch_size=8"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    want, got = losses(straight), losses(halted)
    assert sorted(got) == [1, 2, 3, 4]
    for step in (3, 4):
        assert got[step] == pytest.approx(want[step], rel=1e-4)


def test_unknown_preset_lists_valid_ones(capsys: pytest.CaptureFixture) -> None:
    rc = main(["train", "--preset", "huge", "--max-steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "huge" in err and "seed-14m" in err and "gpt2-124m" in err
    assert "Traceback" not in err


def test_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r"),
               "--max-steps", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "nothing" in err and "Traceback" not in err


def test_resume_into_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["train", "--resume", str(tmp_path / "ghost")])
    err = capsys.readouterr().err
    assert rc == 2 and "ghost" in err and "config.toml" in err


def test_data_shorter_than_one_window(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "short"
    short = tmp_path / "short.txt"
    short.write_text("Hi.\n\nOk.\n\nYes.\n\nNo.\n")
    prepare(str(short), data, tokenizer="byte", num_workers=1, progress=False, val_fraction=0.3)
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--max-steps", "1",
               *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "context_length + 1 = 33" in err and "Traceback" not in err


def test_resume_refuses_data_changes(dataset: Path, tmp_path: Path, capsys) -> None:
    rc = main(["train", "--resume", str(tmp_path), "--set", "data.batch_mode=sliding"])
    err = capsys.readouterr().err
    assert rc == 2 and "data.batch_mode" in err


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_exits_130(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [
        str(GPTLAB), "train", "--data", str(dataset), "--out", str(run),
        "--max-steps", "100000", "--no-progress", "--set", "train.log_interval_steps=1", *TINY,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        metrics = run / "metrics.jsonl"
        while time.monotonic() < deadline:
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "end" and last["reason"] == "interrupted"
    saved = [p for p in (run / "checkpoints").iterdir() if p.name.startswith("step_")]
    assert len(saved) == 1 and int(saved[0].name[5:]) == last["step"]
    assert not (run / ".lock").exists()


def test_shrunk_preset_fits_warmup_intervals_and_micro_batch(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    # The tiny preset: warmup 20, eval every 50, micro batch 16; batch 4 alone is enough.
    rc = main(["train", "--preset", "tiny", "--data", str(dataset), "--out", str(run),
               "--max-steps", "3", "--device", "cpu", "--no-progress",
               "--set", "train.batch_size=4", "--set", "run.report=false",
               "--set", "train.sample_max_new_tokens=2"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "optim.warmup_steps 20 -> 0" in err
    assert "train.eval_interval_steps 50 -> 1" in err
    assert "train.micro_batch_size 16 -> 4" in err
    saved = (run / "config.toml").read_text()
    assert "warmup_steps = 0" in saved and "micro_batch_size = 4" in saved
    lines = (run / "metrics.jsonl").read_text().splitlines()
    train_records = [r for r in map(json.loads, lines) if r["kind"] == "train"]
    # The first step trains at the peak rate, not at 1/20 of it.
    assert train_records[0]["lr"] == pytest.approx(3e-3)
    # Evaluation lines: val, train, gap and a best-so-far mark, each under 80 columns.
    evals = [line for line in err.splitlines() if line.startswith("eval ")]
    assert [e.split(":")[0] for e in evals] == ["eval 1", "eval 2", "eval 3"]
    assert all(len(e) < 80 and " gap " in e for e in evals)
    assert "*best" in evals[0]


def test_explicit_warmup_is_kept(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    rc = main(["train", "--preset", "tiny", "--data", str(dataset), "--out", str(run),
               "--max-steps", "2", "--device", "cpu", "--no-progress", *TINY,
               "--set", "optim.warmup_steps=20"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "warmup" not in err
    assert "warmup_steps = 20" in (run / "config.toml").read_text()


def test_bf16_on_cpu_warns(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["train", "--data", str(dataset), "--out", str(tmp_path / "r"), "--max-steps", "1",
               "--device", "cpu", "--precision", "bf16", "--no-progress", *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "bf16 on a CPU" in err and "fp32" in err
