"""Run plots of the training step's own measurements, one point per log window: the learning
rate, the gradient norm before clipping, and single fields such as throughput, peak memory and
MFU. Registered in plots.render_run_plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from gptlab.report.figures import (
    COUNT_FORMATTER,
    NEUTRAL_COLOR,
    PALETTE,
    Plot,
    finite,
    legend,
    note,
    render,
)
from gptlab.report.records import RunMetrics, log_window_steps, lr_per_step, series


def train_field_plot(
    m: RunMetrics,
    path: Path,
    *,
    key: str,
    title: str,
    caption: str,
    ylabel: str,
    color: str,
    hline: float | None = None,
    hline_label: str = "",
    count_axis: bool = False,
    scale: float = 1.0,
    from_zero: bool = False,
) -> Plot:
    steps, values = finite(series(m.train, "step"), series(m.train, key))

    def draw(ax: Axes) -> None:
        if steps.size:
            ax.plot(steps, values * scale, color=color, label=title.split(" (")[0].lower())
        else:
            note(ax, "No values recorded.")
        if hline is not None:
            ax.axhline(hline, color=NEUTRAL_COLOR, linestyle="--", linewidth=1.0, label=hline_label)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        if count_axis:
            ax.yaxis.set_major_formatter(COUNT_FORMATTER)
        if from_zero and steps.size:
            ax.set_ylim(0.0, float(values.max()) * scale * 1.1 or 1.0)
        if hline is not None:
            legend(ax)

    render(path, draw)
    return Plot(path, title, caption, {"step": steps, key: values})


def lr_plot(m: RunMetrics, path: Path) -> Plot:
    """The learning rate of every optimizer step (older runs: of every log step)."""
    steps, lrs, exact = lr_per_step(m.train)

    def draw(ax: Axes) -> None:
        if steps.size:
            label = "LR of every step" if exact else "LR at log steps only"
            ax.plot(steps, lrs, color=PALETTE[4], label=label)
            peak = int(np.argmax(lrs))
            ax.annotate(
                f"peak {lrs[peak]:.3g} at step {steps[peak]:.0f}",
                xy=(steps[peak], lrs[peak]),
                xytext=(6, 4),
                textcoords="offset points",
                va="bottom",
                fontsize=9,
                color=NEUTRAL_COLOR,
            )
            ax.set_ylim(0.0, float(lrs.max()) * 1.12 or 1.0)
            legend(ax)
        else:
            note(ax, "No values recorded.")
        ax.set_title("Learning rate")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")

    render(path, draw)
    caption = (
        "The learning rate applied at every optimizer step, as logged: linear warmup to the "
        "peak, then the decay towards the minimum."
        if exact
        else "The learning rate at each log step only (this run predates per-step LR logging): "
        "the straight segments between log steps are not the schedule."
    )
    return Plot(path, "Learning rate", caption, {"step": steps, "lr": lrs})


def grad_norm_plot(m: RunMetrics, path: Path, grad_clip: float | None) -> Plot:
    """Mean and max pre-clip gradient norm of each log window, and the clip threshold."""
    steps = series(m.train, "step")
    mean, peak = series(m.train, "grad_norm"), series(m.train, "grad_norm_max")
    has_max = bool(np.isfinite(peak).any())
    window = log_window_steps(m.train)
    span = f"{window}-step " if window and window > 1 else ""

    def draw(ax: Axes) -> None:
        xs, ys = finite(steps, peak)
        if xs.size:
            ax.plot(
                xs,
                ys,
                color=PALETTE[2],
                alpha=0.45,
                linewidth=1.0,
                label=f"max over each {span}log window",
            )
        xs, ys = finite(steps, mean)
        if xs.size:
            label = f"mean over each {span}log window" if has_max else "at each log step"
            ax.plot(xs, ys, color=PALETTE[2], label=label)
        else:
            note(ax, "No values recorded.")
        if grad_clip:
            ax.axhline(
                grad_clip,
                color=NEUTRAL_COLOR,
                linestyle="--",
                linewidth=1.0,
                label=f"clip at {grad_clip:g}",
            )
        ax.set_title("Gradient norm (before clipping)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("gradient L2 norm")
        legend(ax)

    render(path, draw)
    what = (
        "Global L2 norm of the gradients before clipping: the mean (solid) and the largest "
        "(faint) over each log window"
        if has_max
        else "Global L2 norm of the gradients before clipping, at each log step (this run "
        "predates the per-window mean and max)"
    )
    caption = (
        f"{what}; steps above the dashed clip line were scaled down, and repeated spikes hint "
        "at a too-high learning rate."
    )
    return Plot(
        path,
        "Gradient norm (before clipping)",
        caption,
        {"step": steps, "grad_norm": mean, "grad_norm_max": peak},
    )
