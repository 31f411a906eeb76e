"""Training-curve plots of one run (plots/*.png), drawn from its metrics.jsonl records.

To add a run plot: write a function that returns a Plot, call it from render_run_plots when the
records have its values, and add its file name to RUN_PLOT_FILES (so a stale copy is removed when
they do not).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from gptlab.errors import ConfigError
from gptlab.report.figures import (
    COUNT_FORMATTER,
    GAP_COLOR,
    NEUTRAL_COLOR,
    PALETTE,
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
from gptlab.report.model_plots import MODEL_PLOT_FILES, model_state_plots
from gptlab.report.records import (
    RunMetrics,
    ema,
    generalisation_gap,
    load_metrics,
    log_window_steps,
    lr_per_step,
    series,
)


def _window_label(m: RunMetrics) -> str:
    """What one train record's loss is, for legends: "mean over each 12-step log window"."""
    steps = log_window_steps(m.train)
    if steps == 1:
        return "loss of each step"
    if steps is None:
        return "mean over each log window"
    return f"mean over each {steps}-step log window"


_LOSS_AXES = {
    "step": ("Loss vs steps", "optimizer step"),
    "tokens": ("Loss vs tokens seen", "tokens seen"),
    "wall_s": ("Loss vs training time", "training time (minutes)"),
}
"""Title and x label of the loss plot for each x-axis."""


def _loss_plot(m: RunMetrics, x_key: str, path: Path, smoothing: float) -> Plot:
    """Train loss per log window (raw and EMA), train and val loss at evaluations, the gap."""
    scale = 1 / 60 if x_key == "wall_s" else 1.0  # seconds -> minutes
    x_train, loss_train = finite(series(m.train, x_key) * scale, series(m.train, "loss"))
    smoothed = ema(loss_train, smoothing)
    x_eval = series(m.eval, x_key) * scale
    val = series(m.eval, "val_loss")
    train_eval = series(m.eval, "train_loss")
    by_tokens = x_key == "tokens"
    title, xlabel = _LOSS_AXES[x_key]
    window = _window_label(m)

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


def _eval_pair_plot(
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


def _train_field_plot(
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


def _lr_plot(m: RunMetrics, path: Path) -> Plot:
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


def _grad_norm_plot(m: RunMetrics, path: Path, grad_clip: float | None) -> Plot:
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


def _has_values(records: Sequence[dict[str, Any]], key: str, positive: bool = False) -> bool:
    values = series(records, key)
    keep = np.isfinite(values) & (values > 0) if positive else np.isfinite(values)
    return bool(keep.any())


def _gap_plot(m: RunMetrics, path: Path) -> Plot:
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


DEFAULT_SMOOTHING = 0.6
"""EMA weight of the smoothed train-loss line (TensorBoard's default); 0 draws the raw line only."""


def render_run_plots(
    m: RunMetrics,
    out_dir: Path,
    grad_clip: float | None = None,
    smoothing: float = DEFAULT_SMOOTHING,
) -> list[Plot]:
    """Draw every plot the records support into out_dir; stale ones from earlier are removed.

    smoothing is the EMA weight (0 <= w < 1) of the smoothed train-loss line.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(
            f"smoothing={smoothing} is not an EMA weight: use a value from 0 (no smoothing) up "
            f"to below 1, e.g. {DEFAULT_SMOOTHING}."
        )
    plots: list[Plot] = []
    if m.train or m.eval:
        plots.append(_loss_plot(m, "step", out_dir / "loss_steps.png", smoothing))
        plots.append(_loss_plot(m, "tokens", out_dir / "loss_tokens.png", smoothing))
        if _has_values(m.train, "wall_s"):
            plots.append(_loss_plot(m, "wall_s", out_dir / "loss_time.png", smoothing))
    if m.eval:
        plots.append(
            _eval_pair_plot(
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
            _eval_pair_plot(
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
        plots.append(_gap_plot(m, out_dir / "gap.png"))
    if m.train:
        plots.append(_lr_plot(m, out_dir / "lr.png"))
        plots.append(_grad_norm_plot(m, out_dir / "grad_norm.png", grad_clip))
        plots.append(
            _train_field_plot(
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
            _train_field_plot(
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
            _train_field_plot(
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
