"""examples/recipes/*.sh run end to end, scaled down by RECIPE_SMOKE=1, with the venv's gptlab.

Each recipe is a real shell script a user runs; here it trains a few steps on tiny data in a
temporary folder and the test checks the outputs the recipe promises (reports, the compare
table, sweep summaries, HellaSwag during training). Recipes that need ../shared/data skip
without it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPES = REPO_ROOT / "examples" / "recipes"
GPTLAB = Path(sys.executable).parent / "gptlab"

pytestmark = pytest.mark.slow


def run_recipe(name: str, out: Path, **env: str) -> str:
    """Run one recipe with RECIPE_SMOKE=1 into `out`; fail with its output unless it exits 0."""
    full_env = {**os.environ, "RECIPE_SMOKE": "1", "GPTLAB": str(GPTLAB), "OUT": str(out), **env}
    result = subprocess.run(
        ["bash", str(RECIPES / f"{name}.sh")],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{tail}"
    return result.stdout + result.stderr


def test_every_recipe_is_strict_and_takes_full() -> None:
    scripts = sorted(RECIPES.glob("*.sh"))
    assert len(scripts) == 5
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        assert "set -euo pipefail" in text, script.name
        assert "--full" in text and "RECIPE_SMOKE" in text, script.name
        assert '"$GPTLAB"' in text, script.name


def test_recipe_rejects_unknown_argument(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(RECIPES / "tiny_data_sweep.sh"), "--fast"],
        env={**os.environ, "GPTLAB": str(GPTLAB), "OUT": str(tmp_path / "o")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_tiny_data_sweep(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    output = run_recipe("tiny_data_sweep", out)
    for name in ("sentence", "poems"):
        with open(out / name / "summary.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [row["status"] for row in rows] == ["done", "done"]
        losses = [float(row["train_loss"]) for row in rows]
        assert losses == sorted(losses)  # ranked by train loss: there is no val split
        assert (out / name / "summary.html").is_file()
    assert "best trial on the sentence" in output
    assert "小猫" in output


def test_tinystories_three_sizes(tmp_path: Path) -> None:
    out = tmp_path / "ts"
    run_recipe("tinystories_three_sizes", out)
    assert (out / "data" / "analysis" / "analysis.json").is_file()
    table = (out / "compare" / "compare.md").read_text(encoding="utf-8")
    for size in ("14m", "29m", "49m"):
        run = out / "runs" / f"seed-{size}"
        assert f"seed-{size}" in table
        assert (run / "report.html").is_file()
        assert (run / "viz" / "index.html").is_file() == (size == "14m")  # smoke: viz once
        assert "split:val" in json.loads((run / "eval.json").read_text(encoding="utf-8"))
    for column in ("params", "steps", "train loss", "train acc", "val loss", "val ppl", "val acc"):
        assert f"| {column} |" in table


def test_build_nanogpt_then_30m_vs_gpt2(tmp_path: Path, gpt2_dir: Path) -> None:
    nano = tmp_path / "nano"
    run_recipe("build_nanogpt_124m", nano)
    run = nano / "run"
    assert (run / "report.html").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("hellaswag_acc_norm" in record for record in records)  # during training
    assert "hellaswag" in json.loads((run / "eval.json").read_text(encoding="utf-8"))

    # A GPT-2-format folder of our own (the public weights are not in shared data) lets the
    # import-hf half of the next recipe run for real.
    exported = tmp_path / "hf"
    subprocess.run(
        [str(GPTLAB), "export", str(run), "--format", "hf", "--out", str(exported)],
        check=True,
        capture_output=True,
    )
    versus = tmp_path / "versus"
    run_recipe("nanogpt30m_vs_gpt2", versus, GPT2_DIR=str(exported))
    table = (versus / "compare" / "compare.md").read_text(encoding="utf-8")
    assert "nanogpt-30m" in table and "gpt2-124m" in table
    config = (versus / "nanogpt-30m" / "config.toml").read_text(encoding="utf-8")
    assert "dropout = 0.0" in config


def test_from_scratch_tutorial(tmp_path: Path, gpt2_dir: Path) -> None:
    out = tmp_path / "tutorial"
    output = run_recipe("from_scratch_tutorial", out)
    assert "input x" in output  # the loader demo printed inputs beside targets
    meta = json.loads((out / "data" / "meta.json").read_text(encoding="utf-8"))
    assert meta["split"] == "contiguous"  # the 80/20 cut of one text
    assert meta["splits"]["val"]["tokens"] > 0
    metrics = (out / "run" / "metrics.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in metrics.splitlines()]
    evals = [r for r in records if "val_loss" in r]
    assert evals[0]["step"] == 0 and evals[0]["val_loss"] > 10  # untrained: about ln 50,257
    assert (out / "run" / "report.html").is_file()
    # Section 5's next-token draws at three temperatures, each with its table.
    assert output.count("Next token after 'at the start of'") == 3
    assert output.count("1,000 draws, seed 123") == 3
