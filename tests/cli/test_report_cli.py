"""`gptlab report` and `gptlab compare` from the command line: output, files, exit codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from gptlab.cli import main


def _fixtures() -> ModuleType:
    """make_run from tests/report/test_html.py (one run-folder builder for every report test)."""
    spec = importlib.util.spec_from_file_location(
        "report_run_fixtures", Path(__file__).parents[1] / "report" / "test_html.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_run = _fixtures().make_run


def test_report_prints_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, n_train=6, n_eval=2)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out.strip()
    assert Path(out) == run / "report.html"
    assert (run / "report.html").is_file() and (run / "plots" / "gap.png").is_file()


def test_report_on_a_missing_run_exits_2_with_a_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "train first" in err and "Traceback" not in err
    (tmp_path / "nometrics").mkdir()
    assert main(["report", str(tmp_path / "nometrics")]) == 2
    assert "metrics.jsonl" in capsys.readouterr().err


def test_compare_prints_the_table_and_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_run(tmp_path, "alpha", tokenizer="char", n_train=6, n_eval=2)
    b = make_run(
        tmp_path, "beta", tokenizer="bpe", vocab_size=512, val_tokens=2500, n_train=6, n_eval=2
    )
    out_dir = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "bits per byte" in out
    assert str(out_dir / "compare.html") in out.replace("\n", "")
    assert (out_dir / "compare.md").is_file()


def test_compare_with_a_missing_run_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_run(tmp_path, "alpha", n_train=6, n_eval=2)
    missing = tmp_path / "ghost-run"
    assert main(["compare", str(a), str(missing), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "ghost-run" in err and "Traceback" not in err
