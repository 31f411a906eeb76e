"""Run plots of how well the model fits: loss against steps, tokens and training time (train
per log window, train and val at evaluations), perplexity, next-token accuracy and the
generalisation gap. Registered in plots.render_run_plots.

Trade-off: the train line is a log window's mean loss while the evaluation points are measured
in eval mode at each evaluation, so the two are drawn differently and the captions say which is
which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from gptlab.report.figures import (
    COUNT_FORMATTER,
    GAP_COLOR,
    NEUTRAL_COLOR,
    TRAIN_COLOR,
    TRAIN_RAW_COLOR,
    VAL_COLOR,
    Plot,
    finite,
    legend,
    note,
    render,
    set_log_y,
)
from gptlab.report.records import RunMetrics, ema, generalisation_gap, log_window_steps, series


def window_label(m: RunMetrics) -> str:
    """What one train record's loss is, for legends: "mean over each 12-step log window"."""
    steps = log_window_steps(m.train)
    if steps == 1:
        return "loss of each step"
    if steps is None:
        return "mean over each log window"
    return f"mean over each {steps}-step log window"


LOSS_AXES = {
    "step": ("Loss vs steps", "optimizer step"),
    "tokens": ("Loss vs tokens seen", "tokens seen"),
    "wall_s": ("Loss vs training time", "training time (minutes)"),
}
"""Title and x label of the loss plot for each x-axis."""


def loss_plot(m: RunMetrics, x_key: str, path: Path, smoothing: float) -> Plot:
    """Train loss per log window (raw and EMA), train and val loss at evaluations, the gap."""
    scale = 1 / 60 if x_key == "wall_s" else 1.0  # seconds -> minutes
    x_train, loss_train = finite(series(m.train, x_key) * scale, series(m.train, "loss"))
    smoothed = ema(loss_train, smoothing)
    x_eval = series(m.eval, x_key) * scale
    val = series(m.eval, "val_loss")
    train_eval = series(m.eval, "train_loss")
    by_tokens = x_key == "tokens"
    title, xlabel = LOSS_AXES[x_key]
    window = window_label(m)

    def draw(ax: Axes) -> None:
        if x_train.size:
            if smoothing > 0:
                ax.plot(
                    x_train,
                    loss_train,
                    color=TRAIN_RAW_COLOR,
                    linewidth=1.0,
                    label=f"train, {window}",
                )
                ax.plot(
                    x_train,
                    smoothed,
                    color=TRAIN_COLOR,
                    linewidth=1.6,
                    label=f"train, EMA (weight {smoothing:g})",
                )
            else:
                ax.plot(
                    x_train, loss_train, color=TRAIN_COLOR, linewidth=1.2, label=f"train, {window}"
                )
        both = np.isfinite(x_eval) & np.isfinite(val) & np.isfinite(train_eval)
        if both.sum() >= 2:
            ax.fill_between(
                x_eval[both],
                train_eval[both],
                val[both],
                color=GAP_COLOR,
                alpha=0.18,
                linewidth=0,
                label="gap (val - train)",
            )
        xs, ys = finite(x_eval, train_eval)
        if xs.size:
            ax.plot(
                xs,
                ys,
                "o",
                color=TRAIN_COLOR,
                markerfacecolor="white",
                markeredgewidth=1.5,
                linestyle="none",
                label="train, at evaluations",
            )
        xs, ys = finite(x_eval, val)
        if xs.size:
            ax.plot(xs, ys, "s-", color=VAL_COLOR, label="val, at evaluations")
        if not (x_train.size or xs.size):
            note(ax, "No loss values logged yet.")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("cross-entropy loss (nats/token)")
        if by_tokens:
            ax.xaxis.set_major_formatter(COUNT_FORMATTER)
        legend(ax)

    render(path, draw)
    smoothing_text = (
        f"the solid blue line is its exponential moving average (weight {smoothing:g}, debiased "
        "as TensorBoard draws it)"
        if smoothing > 0
        else "no smoothing is applied"
    )
    steps = log_window_steps(m.train)
    what = (
        "the training loss of every step"
        if steps == 1
        else "the training loss averaged over each log window"
        + (f" of {steps} steps" if steps else "")
        + " (the mean of every step's batch loss there, not one batch)"
    )
    caption = (
        f"Lower is better. The {'faint ' if smoothing > 0 else ''}blue line is {what}; "
        f"{smoothing_text}. Open circles and red squares are train and val loss measured the "
        "same way, in eval mode, at each evaluation; the shaded band is the gap."
    )
    if by_tokens:
        caption = (
            f"The same losses against training tokens seen (train: {window}), the fair x-axis "
            "when runs differ in batch size."
        )
    elif x_key == "wall_s":
        caption = (
            f"The same losses against training time in minutes (train: {window}): the x-axis "
            "that tells what a faster step bought. A resumed run's segments are joined; time "
            "spent on steps that were trained again after a crash is not counted."
        )
    return Plot(
        path,
        title,
        caption,
        {
            "x_train": x_train,
            "train_loss": loss_train,
            "train_loss_ema": smoothed,
            "x_eval": x_eval,
            "val_loss": val,
            "eval_train_loss": train_eval,
        },
    )


def eval_pair_plot(
    m: RunMetrics,
    path: Path,
    *,
    title: str,
    caption: str,
    keys: Sequence[tuple[str, str, str, str]],
    ylabel: str,
    log_y: bool = False,
    percent: bool = False,
) -> Plot:
    """Eval-record fields against steps: keys are (field, label, colour, line style)."""
    steps = series(m.eval, "step")
    data: dict[str, np.ndarray] = {"step": steps}

    def draw(ax: Axes) -> None:
        drawn = 0
        for key, label, color, style in keys:
            values = series(m.eval, key)
            data[key] = values
            xs, ys = finite(steps, values * (100.0 if percent else 1.0), positive=log_y)
            if xs.size:
                ax.plot(xs, ys, style, color=color, label=label)
                drawn += 1
        if not drawn:
            note(ax, "No values recorded.")
        if log_y and drawn:
            set_log_y(ax)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        legend(ax)

    render(path, draw)
    return Plot(path, title, caption, data)


def gap_plot(m: RunMetrics, path: Path) -> Plot:
    steps, gap = generalisation_gap(m.eval)

    def draw(ax: Axes) -> None:
        ax.axhline(0.0, color=NEUTRAL_COLOR, linewidth=1.0)
        xs, ys = finite(steps, gap)
        if xs.size:
            ax.plot(xs, ys, "o-", color=GAP_COLOR, label="val - train")
            ax.fill_between(xs, 0.0, ys, color=GAP_COLOR, alpha=0.15, linewidth=0)
            i = int(np.argmax(ys))
            ax.annotate(
                f"largest: {ys[i]:+.3f} at step {xs[i]:.0f}",
                xy=(xs[i], ys[i]),
                xytext=(0, 14),
                textcoords="offset points",
                # keep the label inside the axes when the peak is near an edge
                ha="right" if i > 0.7 * (len(xs) - 1) and len(xs) > 2 else "center",
                fontsize=9,
                color="#92400e",
                arrowprops={"arrowstyle": "-", "color": "#92400e", "linewidth": 0.8},
            )
            low, high = float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))
            pad = 0.25 * (high - low) or 0.05
            ax.set_ylim(low - pad, high + pad)
        else:
            note(ax, "No evaluation has both a train and a val loss.")
        ax.set_title("Generalisation gap")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("val loss - train loss (nats/token)")
        legend(ax)

    render(path, draw)
    return Plot(
        path,
        "Generalisation gap",
        "Val loss minus train loss at each evaluation: near zero means the model generalises; a "
        "gap that keeps growing means it is memorising the training data.",
        {"step": steps, "gap": gap},
    )
