"""One number per meaning: the terminal, report.html, compare and eval.json agree."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from markupsafe import escape

from gptlab.cli import main
from gptlab.report import summarize_run
from gptlab.report.formatting import fmt_float


def test_terminal_report_compare_and_eval_json_show_the_same_losses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tmp_path / "d", tmp_path / "r"
    prepare = ["prepare", "builtin", "--stories", "200", "--tokenizer", "byte", "--out", str(data)]
    assert main(prepare) == 0
    train = [
        "train",
        "--data",
        str(data),
        "--preset",
        "tiny",
        "--max-steps",
        "6",
        "--out",
        str(run),
    ]
    capsys.readouterr()
    assert main([*train, "--device", "cpu", "--no-progress"]) == 0
    terminal = capsys.readouterr().out
    s = summarize_run(run)
    train_loss, estimate = s.train_loss, s.val_loss
    last_train = [r for r in s.metrics.train if r.get("loss") is not None][-1]
    assert train_loss.value == pytest.approx(last_train["loss"])  # the last log window's mean
    assert estimate.value == pytest.approx(s.metrics.eval[-1]["val_loss"])
    for measure in (train_loss, estimate):
        assert fmt_float(measure.value) in terminal and measure.source in terminal

    assert main(["eval", str(run)]) == 0
    full = json.loads((run / "eval.json").read_text("utf-8"))["split:val"]["loss"]
    s = summarize_run(run)
    assert s.val_loss.value == pytest.approx(full) and "gptlab eval" in s.val_loss.source
    assert s.train_loss == train_loss

    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text("utf-8")
    for measure in (s.train_loss, s.val_loss):
        assert fmt_float(measure.value) in page and str(escape(measure.source)) in page

    capsys.readouterr()
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp")]) == 0
    compared = capsys.readouterr().out
    row = next(csv.DictReader((tmp_path / "cmp" / "compare.csv").open(encoding="utf-8")))
    assert float(row["val_loss"]) == pytest.approx(full)
    assert float(row["train_loss"]) == pytest.approx(last_train["loss"])
    assert fmt_float(full) in compared and fmt_float(train_loss.value) in compared


def test_imported_style_run_is_compared_from_eval_json(tmp_path: Path) -> None:
    from gptlab.config import preset_config, save_config
    from gptlab.report import compare_runs

    run = tmp_path / "gpt2"
    run.mkdir()
    save_config(preset_config("tiny"), run / "config.toml")
    results = {"text:wiki.txt": {"loss": 3.3, "bits_per_byte": 1.1, "step": 0}}
    results["hellaswag"] = {"acc": 0.3, "acc_norm": 0.31, "count": 400, "step": 0}
    (run / "eval.json").write_text(json.dumps(results), "utf-8")
    c = compare_runs([run], tmp_path / "cmp")
    headers, cells = c.table()
    assert "wiki.txt bits/byte" in headers and "1.100" in cells[0]
    assert c.rows[0].hellaswag == pytest.approx(0.31)
    assert "val loss" not in headers  # no empty columns
