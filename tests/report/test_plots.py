"""Training-curve plots: the data behind them, robustness to odd metrics, byte-identical PNGs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from gptlab.config import apply_overrides, preset_config, save_config
from gptlab.report.plots import (
    RUN_PLOT_FILES,
    OverlayRun,
    format_count,
    generalisation_gap,
    load_metrics,
    plot_overlays,
    plot_run,
    render_run_plots,
)


def write_metrics(run: Path, n_train: int = 30, n_eval: int = 5, seed: int = 0) -> Path:
    """A realistic metrics.jsonl: decaying noisy train loss, evals with a growing gap."""
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
                "mfu": None,
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
    write_metrics(run)
    paths = plot_run(run)
    assert sorted(p.name for p in paths) == sorted(RUN_PLOT_FILES)
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
    assert len(plot_run(run)) == len(RUN_PLOT_FILES)
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
    }
    bpb = plots["val_bpb_tokens.png"].data
    np.testing.assert_allclose(bpb["a"], 4.0 * bpb["b"])
    val_a = [r["val_loss"] for r in runs[0].metrics.eval]
    np.testing.assert_allclose(bpb["a"], np.array(val_a) / math.log(2))
    for plot in plots.values():
        assert plot.path.stat().st_size > 10_000


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
