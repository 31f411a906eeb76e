"""The demo end to end, scaled down: every stage runs and leaves its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.cli import main


@pytest.mark.slow
def test_demo_runs_the_whole_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--stories", "300", "--max-steps", "12", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed
    run = out / "run"
    assert (run / "report.html").is_file()
    assert (run / "plots" / "loss_steps.png").is_file()
    assert {"index.html", "viz.json", "token_losses.png", "head_summary.png"} <= {
        p.name for p in (run / "viz").iterdir()
    }
    assert "Inside the model" in printed
    assert (out / "data" / "analysis" / "analysis.json").is_file()
    scores = json.loads((run / "eval.json").read_text())["split:val"]
    assert 0 < scores["loss"] < 8
    end = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["kind"] == "end" and end["step"] == 12

    # A second run reuses the prepared corpus and replaces the old run.
    rc = main(["demo", "--out", str(out), "--stories", "300", "--max-steps", "3", "--no-progress"])
    assert rc == 0
    assert "Reusing the prepared corpus" in capsys.readouterr().err
    end = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert end["step"] == 3


def test_demo_refuses_a_foreign_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    (out / "run").mkdir(parents=True)
    (out / "run" / "precious.txt").write_text("keep me")
    rc = main(["demo", "--out", str(out), "--stories", "100", "--max-steps", "1", "--no-progress"])
    assert rc == 2
    assert "not a gptlab run" in capsys.readouterr().err
    assert (out / "run" / "precious.txt").read_text() == "keep me"
