"""Overlaid curves of several runs (compare.html): one colour per run on every picture."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from gptlab.report.figures import (
    COUNT_FORMATTER,
    PALETTE,
    Plot,
    finite,
    legend,
    note,
    render,
    set_log_y,
)
from gptlab.report.records import RunMetrics, ema, lr_per_step, series


@dataclass(frozen=True)
class OverlayRun:
    """One run in an overlay: a label and its metrics (bytes_per_token for bits-per-byte axes)."""

    label: str
    metrics: RunMetrics
    bytes_per_token: float | None = None
    color: str | None = None
    """The run's colour on every picture of a comparison (default: by position)."""


def _overlay(
    runs: Sequence[OverlayRun],
    path: Path,
    *,
    title: str,
    caption: str,
    kind: str,
    x_key: str,
    y: Callable[[OverlayRun], np.ndarray],
    ylabel: str,
    log_y: bool = False,
    curve: Callable[[OverlayRun], tuple[np.ndarray, np.ndarray]] | None = None,
    smoothing: float = 0.0,
) -> Plot:
    """One line per run; y gives values for the run's records of `kind` at x_key, or curve
    gives (x, y) directly (the LR of every step). With smoothing (an EMA weight), each run's raw
    line is drawn faint and its EMA in the same colour over it."""
    data: dict[str, np.ndarray] = {}

    def draw(ax: Axes) -> None:
        drawn = 0
        for i, run in enumerate(runs):
            records = run.metrics.eval if kind == "eval" else run.metrics.train
            x, values = curve(run) if curve else (series(records, x_key), y(run))
            xs, ys = finite(x, values, positive=log_y)
            data[run.label] = ys
            color = run.color or PALETTE[i % len(PALETTE)]
            if xs.size and smoothing > 0:
                ax.plot(xs, ys, "-", color=color, alpha=0.3, linewidth=1.0)
                data[f"{run.label} (EMA)"] = smoothed = ema(ys, smoothing)
                ax.plot(xs, smoothed, "-", color=color, label=run.label, linewidth=1.6)
                drawn += 1
            elif xs.size:
                style = "o-" if kind == "eval" else "-"
                ax.plot(
                    xs,
                    ys,
                    style,
                    color=color,
                    label=run.label,
                    linewidth=1.8 if kind == "eval" else 1.2,
                    markersize=4,
                )
                drawn += 1
        if not drawn:
            note(ax, "No run has these values.")
        elif log_y:
            set_log_y(ax)
        ax.set_title(title)
        ax.set_xlabel("tokens seen" if x_key == "tokens" else "optimizer step")
        if x_key == "tokens":
            ax.xaxis.set_major_formatter(COUNT_FORMATTER)
        ax.set_ylabel(ylabel)
        legend(ax)

    render(path, draw)
    return Plot(path, title, caption, data)


def plot_overlays(
    runs: Sequence[OverlayRun], out_dir: str | Path, smoothing: float = 0.0
) -> list[Plot]:
    """Overlaid curves of several runs: val loss (tokens, steps), bits per byte, ppl, acc, train.

    smoothing: EMA weight of the train-loss lines (0: raw lines only), as on a run's report.
    """
    out = Path(out_dir)
    smoothed = (
        f" Faint lines are the raw means; solid lines their exponential moving average (weight "
        f"{smoothing:g}, debiased as TensorBoard does)."
        if smoothing > 0
        else " Not smoothed."
    )
    plots = [
        _overlay(
            runs,
            out / "val_loss_tokens.png",
            title="Val loss vs tokens seen",
            caption="Validation loss against training tokens: the lower curve learned more from "
            "the same data (comparable only between runs with the same tokenizer).",
            kind="eval",
            x_key="tokens",
            y=lambda r: series(r.metrics.eval, "val_loss"),
            ylabel="val loss (nats/token)",
        ),
        _overlay(
            runs,
            out / "val_loss_steps.png",
            title="Val loss vs steps",
            caption="Validation loss against optimizer steps.",
            kind="eval",
            x_key="step",
            y=lambda r: series(r.metrics.eval, "val_loss"),
            ylabel="val loss (nats/token)",
        ),
        _overlay(
            runs,
            out / "val_bpb_tokens.png",
            title="Val bits per byte vs tokens seen",
            caption="Validation loss converted to bits per byte of text: comparable across "
            "tokenizers.",
            kind="eval",
            x_key="tokens",
            y=lambda r: (
                series(r.metrics.eval, "val_loss") / math.log(2) / (r.bytes_per_token or math.nan)
            ),
            ylabel="bits per byte",
        ),
        _overlay(
            runs,
            out / "val_ppl.png",
            title="Val perplexity",
            caption="exp(val loss) on a log scale; lower is better.",
            kind="eval",
            x_key="tokens",
            y=lambda r: series(r.metrics.eval, "val_ppl"),
            ylabel="val perplexity (log scale)",
            log_y=True,
        ),
        _overlay(
            runs,
            out / "val_acc.png",
            title="Val next-token accuracy",
            caption="Top-1 next-token accuracy on the val split; higher is better.",
            kind="eval",
            x_key="tokens",
            y=lambda r: 100.0 * series(r.metrics.eval, "val_acc"),
            ylabel="val top-1 accuracy (%)",
        ),
        _overlay(
            runs,
            out / "train_loss.png",
            title="Train loss",
            caption="Training loss against tokens seen, each point the mean over one log "
            "window of that run." + smoothed,
            kind="train",
            x_key="tokens",
            y=lambda r: series(r.metrics.train, "loss"),
            ylabel="train loss, mean per log window",
            smoothing=smoothing,
        ),
        _overlay(
            runs,
            out / "train_acc.png",
            title="Train next-token accuracy",
            caption="Top-1 accuracy on train batches at each evaluation (eval mode); far above "
            "val accuracy means memorising.",
            kind="eval",
            x_key="tokens",
            y=lambda r: 100.0 * series(r.metrics.eval, "train_acc"),
            ylabel="train top-1 accuracy (%)",
        ),
        _overlay(
            runs,
            out / "lr.png",
            title="Learning rate",
            caption="The learning rate of every optimizer step, as the schedule set it.",
            kind="train",
            x_key="step",
            y=lambda r: np.array([]),
            curve=lambda r: lr_per_step(r.metrics.train)[:2],
            ylabel="learning rate",
        ),
        _overlay(
            runs,
            out / "grad_norm.png",
            title="Gradient norm",
            caption="Mean gradient norm (before clipping) over each log window of that run.",
            kind="train",
            x_key="step",
            y=lambda r: series(r.metrics.train, "grad_norm"),
            ylabel="gradient norm",
            log_y=True,
        ),
    ]
    return plots
