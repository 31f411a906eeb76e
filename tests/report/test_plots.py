"""Training-curve plots: the data behind them, robustness to odd metrics, byte-identical PNGs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from gptlab.config import apply_overrides, preset_config, save_config
from gptlab.errors import ConfigError
from gptlab.report.figures import format_count
from gptlab.report.model_plots import MODEL_PLOT_FILES
from gptlab.report.overlays import OverlayRun, plot_overlays
from gptlab.report.plots import RUN_PLOT_FILES, plot_run, render_run_plots
from gptlab.report.records import (
    ema,
    generalisation_gap,
    load_metrics,
    log_window_steps,
    lr_per_step,
)


def write_metrics(
    run: Path, n_train: int = 30, n_eval: int = 5, seed: int = 0, mfu: float | None = None
) -> Path:
    """A realistic metrics.jsonl as runs wrote it before per-window keys (lr_by_step,
    grad_norm_max): decaying noisy train loss, evals with a growing gap."""
    rng = np.random.default_rng(seed)
    run.mkdir(parents=True, exist_ok=True)
    tokens_per_step = 1024
    lines = []
    for i in range(1, n_train + 1):
        step = 10 * i
        loss = 1.3 + 2.9 * math.exp(-step / 90) + rng.normal(0, 0.05)
        lines.append(
            {
                "kind": "train",
                "step": step,
                "tokens": step * tokens_per_step,
                "epoch": step / 400,
                "loss": loss,
                "lr": 3e-3 * min(1, step / 40),
                "grad_norm": 1.5 * math.exp(-step / 200) + 0.3 + rng.normal(0, 0.05),
                "tokens_per_s": 9000 + rng.normal(0, 300),
                "mfu": mfu,
                "memory_mb": 120.0,
                "elapsed_s": step * 0.1,
            }
        )
    for j in range(1, n_eval + 1):
        step = j * (10 * n_train // max(n_eval, 1))
        train = 1.3 + 2.9 * math.exp(-step / 90)
        val = train + 0.02 * j
        lines.append(
            {
                "kind": "eval",
                "step": step,
                "tokens": step * tokens_per_step,
                "epoch": step / 400,
                "elapsed_s": step * 0.1,
                "val_loss": val,
                "val_ppl": math.exp(val),
                "val_acc": 0.2 + 0.05 * j,
                "val_acc_top5": 0.5 + 0.05 * j,
                "train_loss": train,
                "train_ppl": math.exp(train),
                "train_acc": 0.21 + 0.05 * j,
                "train_acc_top5": 0.51 + 0.05 * j,
            }
        )
    lines.sort(key=lambda r: r["step"])
    last = 10 * n_train
    lines.append(
        {
            "kind": "end",
            "step": last,
            "tokens": last * tokens_per_step,
            "elapsed_s": last * 0.1,
            "reason": "max_steps",
        }
    )
    path = run / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def test_load_metrics_sorts_dedupes_and_skips_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    records = [
        {"kind": "train", "step": 20, "loss": 2.0},
        {"kind": "train", "step": 10, "loss": 3.0},
        {"kind": "train", "step": 20, "loss": 1.5},  # logged again after a resume: this one wins
        {"kind": "eval", "step": 20, "val_loss": 2.1, "train_loss": 1.9},
        {"kind": "end", "step": 20, "reason": "max_steps"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"kind": "tra', "utf-8")
    m = load_metrics(path)
    assert [r["step"] for r in m.train] == [10, 20]
    assert m.train[1]["loss"] == 1.5
    assert m.end is not None and m.end["reason"] == "max_steps"
    assert m.skipped_lines == 1


def test_gap_is_val_minus_train_at_each_eval(tmp_path: Path) -> None:
    m = load_metrics(write_metrics(tmp_path))
    steps, gap = generalisation_gap(m.eval)
    assert steps.tolist() == [60, 120, 180, 240, 300]
    expected = [r["val_loss"] - r["train_loss"] for r in m.eval]
    np.testing.assert_allclose(gap, expected)
    np.testing.assert_allclose(gap, [0.02, 0.04, 0.06, 0.08, 0.10], atol=1e-12)


def test_plot_run_writes_every_plot_as_a_decodable_png(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_metrics(run, mfu=0.31)
    paths = plot_run(run)
    # every run plot but those of eval-time model statistics (not in these older records)
    assert sorted(p.name for p in paths) == sorted(set(RUN_PLOT_FILES) - set(MODEL_PLOT_FILES))
    for path in paths:
        assert path.parent == run / "plots"
        assert path.stat().st_size > 10_000, path
        image = matplotlib.image.imread(path)
        # 8 x 4.5 in at 110 dpi, give or take tight_layout
        assert image.shape[0] == 495 and image.shape[1] == 880
        assert image[..., :3].std() > 0.05  # not a blank canvas


def test_plots_return_the_data_they_draw(tmp_path: Path) -> None:
    m = load_metrics(write_metrics(tmp_path / "run"))
    plots = {p.path.name: p for p in render_run_plots(m, tmp_path / "plots", grad_clip=1.0)}
    loss = plots["loss_steps.png"].data
    assert loss["x_train"].tolist() == [10 * i for i in range(1, 31)]
    np.testing.assert_allclose(loss["train_loss"], [r["loss"] for r in m.train])
    np.testing.assert_allclose(loss["val_loss"], [r["val_loss"] for r in m.eval])
    assert plots["loss_tokens.png"].data["x_train"][0] == 10 * 1024
    np.testing.assert_allclose(plots["gap.png"].data["gap"], [0.02, 0.04, 0.06, 0.08, 0.10])
    np.testing.assert_allclose(plots["accuracy.png"].data["val_acc"], [0.25, 0.3, 0.35, 0.4, 0.45])
    assert all(p.caption and p.title for p in plots.values())


def test_nan_values_and_no_eval_records_do_not_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    records = [
        {
            "kind": "train",
            "step": 1,
            "tokens": 64,
            "loss": float("nan"),
            "lr": 0.0,
            "grad_norm": float("inf"),
            "tokens_per_s": None,
        },
        {
            "kind": "train",
            "step": 2,
            "tokens": 128,
            "loss": 3.5,
            "lr": 1e-4,
            "grad_norm": 2.0,
            "tokens_per_s": 1000.0,
        },
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    # A stale eval picture from an earlier report must not survive a run with no evals.
    (run / "plots").mkdir()
    (run / "plots" / "gap.png").write_bytes(b"stale")
    paths = plot_run(run)
    names = {p.name for p in paths}
    assert names == {
        "loss_steps.png",
        "loss_tokens.png",
        "lr.png",
        "grad_norm.png",
        "throughput.png",
    }
    assert not (run / "plots" / "gap.png").exists()
    for path in paths:
        matplotlib.image.imread(path)


def test_one_eval_record_and_all_nan_gap(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_metrics(run, n_train=3, n_eval=1)
    # no MFU (its values are null) and no model statistics (not in these older records)
    assert len(plot_run(run)) == len(RUN_PLOT_FILES) - len(MODEL_PLOT_FILES) - 1
    m = load_metrics(run / "metrics.jsonl")
    m.eval[0]["train_loss"] = None
    plots = render_run_plots(m, tmp_path / "plots2")
    gap = next(p for p in plots if p.path.name == "gap.png")
    assert np.isnan(gap.data["gap"]).all()


def test_empty_metrics_writes_no_plots(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("", "utf-8")
    assert plot_run(run) == []


def test_regenerating_gives_byte_identical_pngs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_metrics(run)
    cfg = apply_overrides(preset_config("tiny"), ["model.vocab_size=65"])
    save_config(cfg, run / "config.toml")
    first = {p.name: p.read_bytes() for p in plot_run(run)}
    second = {p.name: p.read_bytes() for p in plot_run(run)}
    assert first == second
    assert all(b"Software" not in png for png in first.values())


def test_overlays_one_curve_per_run(tmp_path: Path) -> None:
    runs = [
        OverlayRun("a", load_metrics(write_metrics(tmp_path / "a", seed=1)), 1.0),
        OverlayRun("b", load_metrics(write_metrics(tmp_path / "b", seed=2)), 4.0),
    ]
    plots = {p.path.name: p for p in plot_overlays(runs, tmp_path / "out")}
    assert set(plots) == {
        "val_loss_tokens.png",
        "val_loss_steps.png",
        "val_bpb_tokens.png",
        "val_ppl.png",
        "val_acc.png",
        "train_loss.png",
        "train_acc.png",
        "lr.png",
        "grad_norm.png",
    }
    bpb = plots["val_bpb_tokens.png"].data
    np.testing.assert_allclose(bpb["a"], 4.0 * bpb["b"])
    val_a = [r["val_loss"] for r in runs[0].metrics.eval]
    np.testing.assert_allclose(bpb["a"], np.array(val_a) / math.log(2))
    for plot in plots.values():
        assert plot.path.stat().st_size > 10_000
    assert "a (EMA)" not in plots["train_loss.png"].data  # smoothing 0: raw lines only


def test_overlaid_train_loss_has_an_ema_beside_the_raw_line(tmp_path: Path) -> None:
    run = OverlayRun("a", load_metrics(write_metrics(tmp_path / "a", seed=1)), 1.0)
    plot = plot_overlays([run], tmp_path / "out", smoothing=0.6)
    train = next(p for p in plot if p.path.name == "train_loss.png")
    raw = np.array([r["loss"] for r in run.metrics.train])
    np.testing.assert_allclose(train.data["a"], raw)
    np.testing.assert_allclose(train.data["a (EMA)"], ema(raw, 0.6))
    assert "moving average (weight 0.6" in train.caption


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (950, "950"),
        (1_000, "1K"),
        (12_345, "12.3K"),
        (100_000, "100K"),
        (150_000, "150K"),
        (4_560_000, "4.56M"),
        (1.2e9, "1.2B"),
        (2e6, "2M"),
    ],
)
def test_format_count(value: float, text: str) -> None:
    assert format_count(value) == text


def _window_records() -> list[dict[str, object]]:
    """Train records as gptlab writes them now: every step's LR, mean and max grad norm."""
    out: list[dict[str, object]] = []
    for step, n in ((1, 1), (5, 4), (9, 4), (10, 1), (14, 4)):
        lrs = [1e-3 * min(1.0, s / 6) for s in range(step - n + 1, step + 1)]
        out.append(
            {
                "kind": "train",
                "step": step,
                "tokens": step * 64,
                "loss": 4.0 - 0.1 * step,
                "lr": lrs[-1],
                "lr_by_step": lrs,
                "grad_norm": 1.0,
                "grad_norm_max": 1.5,
                "tokens_per_s": 1000.0,
                "mfu": None,
                "memory_mb": None,
            }
        )
    return out


def test_lr_per_step_expands_each_window() -> None:
    steps, lrs, exact = lr_per_step(_window_records())
    assert exact and steps.tolist() == list(range(1, 15))
    assert lrs.tolist() == [1e-3 * min(1.0, s / 6) for s in range(1, 15)]
    assert log_window_steps(_window_records()) == 4


def test_old_records_give_the_lr_of_log_steps_and_say_so(tmp_path: Path) -> None:
    m = load_metrics(write_metrics(tmp_path / "run"))
    steps, lrs, exact = lr_per_step(m.train)
    assert not exact and steps.tolist() == [10 * i for i in range(1, 31)]
    assert lrs.tolist() == [r["lr"] for r in m.train]
    assert log_window_steps(m.train) == 10
    plots = {p.path.name: p for p in render_run_plots(m, tmp_path / "plots")}
    assert "not the schedule" in plots["lr.png"].caption
    assert "predates" in plots["grad_norm.png"].caption
    assert np.isnan(plots["grad_norm.png"].data["grad_norm_max"]).all()
    assert "mfu.png" not in plots and "memory.png" in plots


def test_grad_norm_mean_and_max_memory_and_mfu_are_drawn(tmp_path: Path) -> None:
    records = _window_records()
    for i, record in enumerate(records):
        record.update({"mfu": 0.2 + 0.01 * i, "memory_mb": 300.0 + i})
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    plots = {p.path.name: p for p in render_run_plots(load_metrics(run / "metrics.jsonl"), run)}
    grad = plots["grad_norm.png"]
    assert grad.data["grad_norm"].tolist() == [1.0] * 5
    assert grad.data["grad_norm_max"].tolist() == [1.5] * 5
    assert "mean (solid) and the largest" in grad.caption
    np.testing.assert_allclose(plots["mfu.png"].data["mfu"], [0.2, 0.21, 0.22, 0.23, 0.24])
    assert plots["memory.png"].data["memory_mb"].tolist() == [300.0, 301.0, 302.0, 303.0, 304.0]
    for name in ("grad_norm.png", "mfu.png", "memory.png"):
        matplotlib.image.imread(plots[name].path)


def test_ema_is_tensorboards_debiased_smoothing() -> None:
    values = np.array([1.0, np.nan, 3.0, 2.0])
    smoothed = ema(values, 0.6)
    # TensorBoard: last = w * last + (1 - w) * y; shown = last / (1 - w ** n)
    first = 0.4 * 1.0
    second = 0.6 * first + 0.4 * 3.0
    third = 0.6 * second + 0.4 * 2.0
    np.testing.assert_allclose(smoothed[[0, 2, 3]], [1.0, second / 0.64, third / (1 - 0.6**3)])
    assert np.isnan(smoothed[1])
    np.testing.assert_array_equal(ema(values, 0.0), values)


def test_loss_legend_says_what_the_train_curve_is(tmp_path: Path) -> None:
    m = load_metrics(write_metrics(tmp_path / "run"))
    plots = {p.path.name: p for p in render_run_plots(m, tmp_path / "plots", smoothing=0.8)}
    loss = plots["loss_steps.png"]
    assert "averaged over each log window of 10 steps" in loss.caption
    assert "weight 0.8" in loss.caption
    np.testing.assert_allclose(loss.data["train_loss_ema"], ema(loss.data["train_loss"], 0.8))
    raw = render_run_plots(m, tmp_path / "raw", smoothing=0.0)[0]
    assert "no smoothing" in raw.caption
    with pytest.raises(ConfigError, match="smoothing=1"):
        render_run_plots(m, tmp_path / "bad", smoothing=1.0)


def test_training_time_joins_resumed_segments(tmp_path: Path) -> None:
    from gptlab.report.records import load_metrics

    records = [
        {"kind": "train", "step": 1, "loss": 3.0, "elapsed_s": 10.0},
        {"kind": "train", "step": 2, "loss": 2.9, "elapsed_s": 20.0},
        {"kind": "eval", "step": 2, "val_loss": 2.95, "elapsed_s": 20.0},
        {"kind": "train", "step": 3, "loss": 2.8, "elapsed_s": 4.0},  # resumed: clock restarts
        {"kind": "train", "step": 4, "loss": 2.7, "elapsed_s": 9.0},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    m = load_metrics(path)
    assert [r["wall_s"] for r in m.train] == [10.0, 20.0, 24.0, 29.0]
    assert m.eval[0]["wall_s"] == 20.0
    plots = render_run_plots(m, tmp_path)
    timed = next(p for p in plots if p.path.name == "loss_time.png")
    assert timed.title == "Loss vs training time" and timed.path.is_file()
