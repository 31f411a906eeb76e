"""Tests for gptlab.bench and `gptlab bench`: sane numbers on a tiny preset, errors, table rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptlab.bench import (
    MARKDOWN_HEADER,
    BenchResult,
    bench_config,
    markdown_row,
    measure_throughput,
)
from gptlab.cli import main
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_measure_throughput_on_tiny_preset() -> None:
    cfg = bench_config("tiny", micro_batch_size=2, context_length=16, device="cpu", vocab_size=256)
    assert cfg.model.context_length == 16 and cfg.train.micro_batch_size == 2
    assert cfg.model.dropout == 0.0
    result = measure_throughput(cfg, steps=3, warmup=1)
    assert result.params == GPT(cfg.model).num_params().total
    assert result.ms_per_step > 0
    # tokens/s is the step's tokens over the step's time.
    assert result.tokens_per_s == pytest.approx(2 * 16 / (result.ms_per_step / 1000), rel=1e-9)
    assert result.mfu is None  # no known peak FLOP/s for a CPU
    assert result.peak_memory_mb > 10  # a Python process with torch resident
    assert result.precision == "fp32" and result.world_size == 1 and not result.compiled
    assert (result.micro_batch_size, result.context_length) == (2, 16)


def test_bench_config_keeps_preset_defaults_and_rejects_bad_values() -> None:
    cfg = bench_config("seed-14m", device="cpu")
    assert cfg.model.context_length == 256 and cfg.model.vocab_size == 50257
    assert cfg.model.n_layer == 4 and cfg.model.dropout == 0.0
    with pytest.raises(ConfigError, match="preset"):
        bench_config("no-such-preset")
    with pytest.raises(ConfigError, match="--micro-batch"):
        bench_config("tiny", micro_batch_size=0)
    with pytest.raises(ConfigError, match="--context"):
        bench_config("tiny", context_length=-1)
    cfg = bench_config("tiny", device="cpu", vocab_size=256)
    with pytest.raises(ConfigError, match="steps"):
        measure_throughput(cfg, steps=0)


def test_markdown_row_matches_header() -> None:
    result = BenchResult(
        tokens_per_s=123456.7,
        ms_per_step=41.5,
        mfu=0.423,
        peak_memory_mb=2048.0,
        params=124_000_000,
        device="NVIDIA H100",
        precision="bf16",
        micro_batch_size=16,
        context_length=1024,
        compiled=True,
    )
    row = markdown_row("gpt2-124m", result)
    assert row.count("|") == MARKDOWN_HEADER.splitlines()[0].count("|")
    assert "| 124.0 |" in row and "123,457" in row and "42.3%" in row and "| yes |" in row
    assert "| - |" in markdown_row("tiny", BenchResult(1.0, 1.0, None, 1.0, 1, "cpu"))


def test_cli_bench_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--preset", "tiny", "--steps", "2", "--warmup", "1", "--device", "cpu"]
    rc = main([*args, "--micro-batch", "2", "--context", "16", "--vocab-size", "256"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "tokens / s" in out and "ms / step" in out and "16 tokens" in out


def test_cli_bench_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--preset", "nope", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err
    assert main(["bench", "--preset", "tiny", "--steps", "0", "--device", "cpu"]) == 2
    assert "steps" in capsys.readouterr().err


def test_throughput_script_prints_markdown() -> None:
    script = REPO / "bench" / "train_throughput.py"
    options = ["--preset", "tiny", "--micro-batch", "2", "--steps", "1", "--warmup", "0"]
    options += ["--context", "16", "--vocab-size", "256", "--threads", "1"]
    done = subprocess.run(
        [sys.executable, str(script), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[:2] == MARKDOWN_HEADER.splitlines()
    assert lines[2].startswith("| tiny |")


def run_speedrun(*options: str) -> subprocess.CompletedProcess[str]:
    script = REPO / "bench" / "speedrun_shakespeare.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(script), *options],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_speedrun_help() -> None:
    done = run_speedrun("--help")
    assert done.returncode == 0
    assert "--variant" in done.stdout and "--target" in done.stdout


def test_speedrun_smoke_stops_at_the_target(tmp_path: Path) -> None:
    from gptlab.data.corpus import generate_stories

    text_file = tmp_path / "stories.txt"
    text_file.write_text("\n\n".join(generate_stories(60, seed=3)), encoding="utf-8")
    common = ["--data", str(text_file), "--eval-interval", "10", "--eval-batches", "2"]
    common += ["--threads", "1", "--out", str(tmp_path / "out")]
    # An unreachable target: both recipes run their 20 steps.
    done = run_speedrun(*common, "--max-steps", "20", "--target", "0.01")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["recipe"] for r in rows] == ["classic", "best"]
    for row in rows:
        assert not row["reached"] and row["steps"] == 20 and row["val_loss"] < 4.0
    assert "| classic | cpu | 0.01 | - | - |" in done.stdout
    # A target reached at the first evaluation stops the run there, well before its 200 steps.
    done = run_speedrun(*common, "--recipes", "best", "--max-steps", "200", "--target", "9.0")
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert row["reached"] and row["steps_to_target"] == 10 and row["seconds_to_target"] > 0
    assert row["steps"] == 10
    results = sorted((tmp_path / "out").glob("results-*.json"))
    assert results and json.loads(results[-1].read_text())[0]["recipe"] == "best"


def test_out_of_memory_suggests_a_smaller_micro_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import gptlab.bench as bench_module
    from gptlab.train.loop import DeviceOutOfMemory

    def too_big(*args: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(bench_module, "_measure", too_big)
    cfg = bench_config("tiny", micro_batch_size=8, device="cpu")
    with pytest.raises(DeviceOutOfMemory, match="--micro-batch 4"):
        measure_throughput(cfg, steps=1, warmup=0)
