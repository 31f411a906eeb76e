"""Tests of the sweep summary: confounding, the heatmap's numbers, the page, ETA and trial.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gptlab.sweep import TrialRecord, load_spec, plan_trials, reconcile, write_summary
from gptlab.sweep.analysis import confounded_pairs, grid_matrix
from gptlab.sweep.numbers import format_result
from gptlab.sweep.spec import SweepSpec
from gptlab.sweep.state import SweepState


def test_confounded_parameters_are_named_and_a_grid_is_not() -> None:
    together = [{"optim.lr": lr, "model.n_embd": w} for lr, w in
                [(1e-4, 32), (3e-4, 48), (1e-3, 64), (3e-3, 96), (1e-2, 128)]]  # fmt: skip
    found = confounded_pairs(together, ["optim.lr", "model.n_embd"])
    assert [(c.first, c.second) for c in found] == [("optim.lr", "model.n_embd")]
    assert found[0].strength == pytest.approx(1.0) and "confounded" in found[0].message()
    grid = [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y")]
    assert confounded_pairs(grid, ["a", "b"]) == []
    locked = [{"a": a, "b": "x" if a == 1 else "y"} for a in (1, 2, 1, 2)]
    assert confounded_pairs(locked, ["a", "b"])[0].measure == "Cramer's V"


def test_numbers_read_the_same_everywhere() -> None:
    assert format_result("val_loss", 2.345678) == "2.3457"
    assert format_result("val_ppl", 295.63) == "295.6"
    assert format_result("val_acc", 0.4213) == "42.1%"
    assert format_result("wall_s", 140.2) == "2m 20s"
    assert format_result("gap", None) == "-"


def _record(index: int, params: dict, spec, val: float | None, status: str = "done"):
    from gptlab.sweep import trial_fingerprint, trial_id

    results = {"train_loss": 3.0 + index, "trial_s": 12.0, "steps": 6}
    if val is not None:
        results["val_loss"] = val
    return TrialRecord(trial_id(index, params), index, params, trial_fingerprint(spec, params),
                       status=status, results=results if status == "done" else {},
                       error=None if status == "done" else "boom")  # fmt: skip


def _grid_sweep(tmp_path: Path) -> tuple[SweepSpec, SweepState, list[TrialRecord]]:
    """A 2 x 2 grid with three done trials (one with a report and a sample) and one failed."""
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        '[sweep]\nout = "out"\n[parameters]\n"optim.lr" = [1e-3, 3e-3]\n"model.n_layer" = [1, 2]\n',
        encoding="utf-8",
    )
    spec = load_spec(spec_path)
    plans = plan_trials(spec)
    vals = [3.1, 3.0, 2.9, None]
    records = [
        _record(p.index, p.params, spec, v, "done" if v is not None else "failed")
        for p, v in zip(plans, vals, strict=True)
    ]
    state = SweepState("s", str(spec_path), "grid", "val_loss", "now", records)
    reconcile(spec, state, plans)
    best = spec.trials_dir / records[2].trial_id
    best.mkdir(parents=True)
    (best / "report.html").write_text("<html></html>", encoding="utf-8")
    sample = {"step": 6, "tokens": 96, "prompt": "Once upon", "text": " a <b>time</b>"}
    (best / "samples.jsonl").write_text(json.dumps(sample) + "\n", encoding="utf-8")
    spec.out_dir.mkdir(parents=True, exist_ok=True)

    return spec, state, records


def test_summary_page_of_a_two_parameter_grid(tmp_path: Path) -> None:
    spec, state, records = _grid_sweep(tmp_path)
    summary = write_summary(spec, state, log=lambda _: None)

    matrix = grid_matrix(state.current, "optim.lr", "model.n_layer", "val_loss")
    assert matrix is not None and matrix.cells == [[3.1, 3.0], [2.9, None]]
    assert (spec.out_dir / "heatmap.png").is_file()
    assert not (spec.out_dir / "curves.png").exists()  # no trial has an evaluation to draw
    assert summary.ranked[0].trial_id == records[2].trial_id
    page = (spec.out_dir / "summary.html").read_text(encoding="utf-8")
    assert f'href="trials/{records[2].trial_id}/report.html"' in page
    assert "a &lt;b&gt;time&lt;/b&gt;" in page  # the sample, escaped
    assert ">val ppl</th>" not in page and ">gap</th>" not in page  # no value: no column
    assert ">val loss</th>" in page
    assert "2.9000" in page and "12.0 s" in page and "boom" in page
    rows = list(csv.reader((spec.out_dir / "summary.csv").open(encoding="utf-8")))
    assert rows[1][rows[0].index("val_loss")] == "2.9"  # the CSV keeps values in full
    # The failed cell unbalances the grid: lr=3e-3 was only finished with n_layer=1.
    assert len(summary.warnings) == 1 and "optim.lr and model.n_layer" in summary.warnings[0]
    assert "confounded" in page


def test_summary_page_renders_in_a_browser(tmp_path: Path) -> None:
    """Every picture decodes and no table overflows, at 1280 px and phone width."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "report" / "test_browser.py"
    loaded = importlib.util.spec_from_file_location("sweep_browser_probe", path)
    assert loaded is not None and loaded.loader is not None
    browser = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(browser)
    if browser.BROWSER is None:
        pytest.skip("no chromium binary (apt-get install chromium) for a headless render")
    spec, state, _ = _grid_sweep(tmp_path)
    write_summary(spec, state, log=lambda _: None)
    page = spec.out_dir / "summary.html"
    # Two effect plots, the heatmap and the curves (no metrics.jsonl here: no curves).
    browser._check(page, tmp_path, min_images=3)
    browser._check(page, tmp_path, min_images=3, width_px=500)
