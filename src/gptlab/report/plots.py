"""Training-curve plots of one run (plots/*.png), drawn from its metrics.jsonl records: which
plots a run gets and the files they go to. The plots themselves live in loss_plots.py (loss,
perplexity, accuracy, gap), train_plots.py (learning rate, gradient norm, throughput, memory, MFU)
and model_plots.py (benchmarks, parameter and per-group norms).

To add a run plot: write a function that returns a Plot, call it from render_run_plots when the
records have its values, and add its file name to RUN_PLOT_FILES (so a stale copy is removed when
they do not).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.report.figures import PALETTE, TRAIN_COLOR, VAL_COLOR, Plot
from gptlab.report.loss_plots import eval_pair_plot, gap_plot, loss_plot
from gptlab.report.model_plots import MODEL_PLOT_FILES, model_state_plots
from gptlab.report.records import (
    DEFAULT_SMOOTHING,
    RunMetrics,
    check_smoothing,
    load_metrics,
    series,
)
from gptlab.report.train_plots import grad_norm_plot, lr_plot, train_field_plot


def _has_values(records: Sequence[dict[str, Any]], key: str, positive: bool = False) -> bool:
    values = series(records, key)
    keep = np.isfinite(values) & (values > 0) if positive else np.isfinite(values)
    return bool(keep.any())


RUN_PLOT_FILES = (
    "loss_steps.png",
    "loss_tokens.png",
    "loss_time.png",
    "perplexity.png",
    "accuracy.png",
    "gap.png",
    "lr.png",
    "grad_norm.png",
    "throughput.png",
    "memory.png",
    "mfu.png",
    *MODEL_PLOT_FILES,
)
"""Every file plot_run may write into plots/; files of a kind with no data are removed."""


def render_run_plots(
    m: RunMetrics,
    out_dir: Path,
    grad_clip: float | None = None,
    smoothing: float = DEFAULT_SMOOTHING,
) -> list[Plot]:
    """Draw every plot the records support into out_dir; stale ones from earlier are removed.

    smoothing is the EMA weight (0 <= w < 1) of the smoothed train-loss line.
    """
    check_smoothing(smoothing)
    plots: list[Plot] = []
    if m.train or m.eval:
        plots.append(loss_plot(m, "step", out_dir / "loss_steps.png", smoothing))
        plots.append(loss_plot(m, "tokens", out_dir / "loss_tokens.png", smoothing))
        if _has_values(m.train, "wall_s"):
            plots.append(loss_plot(m, "wall_s", out_dir / "loss_time.png", smoothing))
    if m.eval:
        plots.append(
            eval_pair_plot(
                m,
                out_dir / "perplexity.png",
                title="Perplexity",
                caption="exp(loss) on a log scale: the effective number of tokens the model is "
                "choosing between; lower is better.",
                keys=(
                    ("train_ppl", "train", TRAIN_COLOR, "o-"),
                    ("val_ppl", "val", VAL_COLOR, "s-"),
                ),
                ylabel="perplexity (log scale)",
                log_y=True,
            )
        )
        plots.append(
            eval_pair_plot(
                m,
                out_dir / "accuracy.png",
                title="Next-token accuracy",
                caption="How often the true next token is the top guess (solid) or among the top "
                "five (dashed); higher is better.",
                keys=(
                    ("train_acc", "train top-1", TRAIN_COLOR, "o-"),
                    ("val_acc", "val top-1", VAL_COLOR, "s-"),
                    ("train_acc_top5", "train top-5", TRAIN_COLOR, "o--"),
                    ("val_acc_top5", "val top-5", VAL_COLOR, "s--"),
                ),
                ylabel="accuracy (%)",
                percent=True,
            )
        )
        plots.append(gap_plot(m, out_dir / "gap.png"))
    if m.train:
        plots.append(lr_plot(m, out_dir / "lr.png"))
        plots.append(grad_norm_plot(m, out_dir / "grad_norm.png", grad_clip))
        plots.append(
            train_field_plot(
                m,
                out_dir / "throughput.png",
                key="tokens_per_s",
                title="Throughput",
                caption="Training tokens processed per second over each log window (time "
                "spent on evaluations and checkpoints not counted); dips are a busy machine or "
                "slow data loading.",
                ylabel="tokens per second",
                color=PALETTE[5],
                count_axis=True,
            )
        )
    if _has_values(m.train, "memory_mb", positive=True):
        plots.append(
            train_field_plot(
                m,
                out_dir / "memory.png",
                key="memory_mb",
                title="Peak memory",
                caption="Peak memory so far: tensors allocated on the GPU (CUDA), or the "
                "process's peak resident memory (CPU, MPS). A step up at the first evaluation "
                "is normal; a steady climb means something is kept alive between steps.",
                ylabel="peak memory (MB)",
                color=PALETTE[7],
                count_axis=True,
                from_zero=True,
            )
        )
    if _has_values(m.train, "mfu"):
        plots.append(
            train_field_plot(
                m,
                out_dir / "mfu.png",
                key="mfu",
                title="Model FLOPs utilisation",
                caption="Share of the device's peak FLOP/s spent on the model's forward and "
                "backward passes (6N + 12LHQT FLOPs per token, PaLM appendix B), over each log "
                "window; shown only on devices whose peak is known.",
                ylabel="MFU (%)",
                color=PALETTE[3],
                scale=100.0,
                from_zero=True,
            )
        )
    plots.extend(model_state_plots(m, out_dir))
    written = {p.path.name for p in plots}
    for name in RUN_PLOT_FILES:
        if name not in written:
            (out_dir / name).unlink(missing_ok=True)
    return plots


def plot_run(run_dir: str | Path, smoothing: float = DEFAULT_SMOOTHING) -> list[Path]:
    """Write run/plots/*.png from run/metrics.jsonl and return their paths."""
    run = Path(run_dir)
    grad_clip = _grad_clip(run)
    metrics = load_metrics(run / "metrics.jsonl")
    return [p.path for p in render_run_plots(metrics, run / "plots", grad_clip, smoothing)]


def _grad_clip(run: Path) -> float | None:
    """optim.grad_clip from the run's config.toml, when it can be read."""
    from gptlab.config import load_config
    from gptlab.errors import GptlabError

    try:
        return load_config(run / "config.toml").optim.grad_clip
    except GptlabError:
        return None
