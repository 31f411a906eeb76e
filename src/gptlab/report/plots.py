"""Training-curve plots of one run, and overlaid curves of several runs.

metrics.jsonl is read defensively: a killed run can leave a half-written last line (skipped) and a
resumed run logs some steps twice (the later record wins). Figures are drawn on Matplotlib's Agg
canvas in our own style, never through pyplot's global state.
Trade-off: every PNG has a fixed size and dpi and no timestamp, so the same metrics give
byte-identical files; the price is static pictures only (no zoom, no hover).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter
from matplotlib.typing import RcKeyType

from gptlab.errors import ConfigError
from gptlab.fileio import atomic_write_bytes
from gptlab.jsonio import JSON_ERRORS, is_whole_number
from gptlab.mplstyle import PLAIN_TEXT

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
"""Run colours for overlays, in order; the first two are also train (blue) and val (red)."""
TRAIN_COLOR = "#2563eb"
TRAIN_RAW_COLOR = "#93c5fd"
VAL_COLOR = "#dc2626"
GAP_COLOR = "#f59e0b"
NEUTRAL_COLOR = "#4b5563"

FIGSIZE_IN = (8.0, 4.5)
DPI = 110

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": FIGSIZE_IN,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    # DejaVu ships with Matplotlib, so the pictures look the same on every machine.
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 13.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "axes.labelsize": 11,
    "axes.labelcolor": "#374151",
    "axes.edgecolor": "#9ca3af",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.frameon": False,
    "legend.fontsize": 10,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "svg.hashsalt": "gptlab",
    **PLAIN_TEXT,
}
"""Our rcParams, applied only while a figure is drawn (matplotlib.rc_context)."""


# ---------------------------------------------------------------------------------------------
# Reading metrics.jsonl


@dataclass(frozen=True)
class RunMetrics:
    """The records of one metrics.jsonl, by kind, sorted by step, one record per step."""

    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    end: dict[str, Any] | None
    skipped_lines: int = 0
    """Lines that were not JSON objects (e.g. the half-written last line of a killed run)."""


def load_metrics(path: str | Path) -> RunMetrics:
    """Read metrics.jsonl; a repeated step (after a resume) keeps the later record."""
    by_kind: dict[str, dict[int, dict[str, Any]]] = {"train": {}, "eval": {}}
    end: dict[str, Any] | None = None
    skipped = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except JSON_ERRORS:  # a torn or damaged line (bytes that are not UTF-8 included)
                skipped += 1
                continue
            if not isinstance(record, dict):
                skipped += 1
                continue
            kind = record.get("kind")
            if kind == "end":
                end = record
            elif kind in by_kind and is_whole_number(record.get("step")):
                by_kind[kind][int(record["step"])] = record
    return RunMetrics(
        train=[by_kind["train"][s] for s in sorted(by_kind["train"])],
        eval=[by_kind["eval"][s] for s in sorted(by_kind["eval"])],
        end=end,
        skipped_lines=skipped,
    )


def series(records: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """One field of every record as float64; missing, null, non-numeric and inf become NaN."""
    values = np.full(len(records), np.nan)
    for i, record in enumerate(records):
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[i] = float(value)
    values[~np.isfinite(values)] = np.nan
    return values


def generalisation_gap(eval_records: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, val_loss - train_loss) at each evaluation; positive means val is worse."""
    return series(eval_records, "step"), series(eval_records, "val_loss") - series(
        eval_records, "train_loss"
    )


def final_value(records: Sequence[dict[str, Any]], key: str) -> float | None:
    """The last finite value of a field, or None when there is none."""
    values = series(records, key)
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def lr_per_step(train_records: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, bool]:
    """(steps, lr, exact): the learning rate of every optimizer step, from each record's
    lr_by_step (its log window, ending at the record's step).

    exact is False when some record predates lr_by_step: its window contributes only the lr of
    its own step, so lines between those points are not the schedule.
    """
    by_step: dict[int, float] = {}
    exact = True
    for record in train_records:
        step, window = record.get("step"), record.get("lr_by_step")
        if not isinstance(step, int | float):
            continue
        if isinstance(window, list) and window:
            first = int(step) - len(window) + 1
            for offset, lr in enumerate(window):
                if isinstance(lr, int | float):
                    by_step[first + offset] = float(lr)
        else:
            exact = False
            lr = record.get("lr")
            if isinstance(lr, int | float) and math.isfinite(lr):
                by_step[int(step)] = float(lr)
    steps = sorted(by_step)
    return np.array(steps, dtype=float), np.array([by_step[s] for s in steps]), exact


def log_window_steps(train_records: Sequence[dict[str, Any]]) -> int | None:
    """The usual number of steps a train record averages: len(lr_by_step), or for older records
    the distance to the previous record's step; the most common value, None without records."""
    lengths: list[int] = []
    previous = 0
    for record in train_records:
        window = record.get("lr_by_step")
        step = record.get("step")
        if isinstance(window, list) and window:
            lengths.append(len(window))
        elif isinstance(step, int | float):
            lengths.append(int(step) - previous)
        if isinstance(step, int | float):
            previous = int(step)
    lengths = [n for n in lengths if n > 0]
    if not lengths:
        return None
    counts = {n: lengths.count(n) for n in set(lengths)}
    return max(counts, key=lambda n: (counts[n], n))


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing: s_i = w s_(i-1) + (1-w) y_i,
    divided by 1 - w^n after n values. NaNs are skipped (and stay NaN); weight 0 is the raw line."""
    out = np.full(len(values), np.nan)
    last, count = 0.0, 0
    for i, value in enumerate(values):
        if not math.isfinite(value):
            continue
        last = weight * last + (1.0 - weight) * float(value)
        count += 1
        out[i] = last / (1.0 - weight**count)
    return out


# ---------------------------------------------------------------------------------------------
# Formatting


def format_count(value: float) -> str:
    """A count in short form: 950, 12.3K, 4.56M, 1.2B."""
    if not math.isfinite(value):
        return "-"
    magnitude = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= threshold:
            scaled = value / threshold
            digits = 0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2
            text = f"{scaled:.{digits}f}"
            # 4.50M -> 4.5M, but 100K stays 100K
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


_COUNT_FORMATTER = FuncFormatter(lambda value, _pos: format_count(value))


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Plot:
    """One rendered picture: where it is, what it shows, and the arrays it was drawn from."""

    path: Path
    title: str
    caption: str
    """One line telling a reader how to read the picture."""
    data: dict[str, np.ndarray] = field(default_factory=dict)


def _new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _png_bytes(fig: Figure) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    # No "Software" text chunk: the bytes depend only on what was drawn.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _render(path: Path, draw: Callable[[Axes], None]) -> None:
    """Draw on a fresh styled figure and write it atomically as PNG."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_axes()
        draw(ax)
        atomic_write_bytes(path, _png_bytes(fig))


def _finite(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return x[keep], y[keep]


def _log_y(ax: Axes) -> None:
    """Log y axis with plain-number labels (4, 6, 20) instead of 4x10^0."""
    ax.set_yscale("log")
    formatter = LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
    ax.yaxis.set_major_formatter(formatter)
    ax.yaxis.set_minor_formatter(formatter)


def _legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=NEUTRAL_COLOR)


def _window_label(m: RunMetrics) -> str:
    """What one train record's loss is, for legends: "mean over each 12-step log window"."""
    steps = log_window_steps(m.train)
    if steps == 1:
        return "loss of each step"
    if steps is None:
        return "mean over each log window"
    return f"mean over each {steps}-step log window"


def _loss_plot(m: RunMetrics, x_key: str, path: Path, smoothing: float) -> Plot:
    """Train loss per log window (raw and EMA), train and val loss at evaluations, the gap."""
    x_train, loss_train = _finite(series(m.train, x_key), series(m.train, "loss"))
    smoothed = ema(loss_train, smoothing)
    x_eval = series(m.eval, x_key)
    val = series(m.eval, "val_loss")
    train_eval = series(m.eval, "train_loss")
    by_tokens = x_key == "tokens"
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
        xs, ys = _finite(x_eval, train_eval)
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
        xs, ys = _finite(x_eval, val)
        if xs.size:
            ax.plot(xs, ys, "s-", color=VAL_COLOR, label="val, at evaluations")
        if not (x_train.size or xs.size):
            _note(ax, "No loss values logged yet.")
        ax.set_title("Loss vs tokens seen" if by_tokens else "Loss vs steps")
        ax.set_xlabel("tokens seen" if by_tokens else "optimizer step")
        ax.set_ylabel("cross-entropy loss (nats/token)")
        if by_tokens:
            ax.xaxis.set_major_formatter(_COUNT_FORMATTER)
        _legend(ax)

    _render(path, draw)
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
    return Plot(
        path,
        "Loss vs tokens seen" if by_tokens else "Loss vs steps",
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
            xs, ys = _finite(steps, values * (100.0 if percent else 1.0), positive=log_y)
            if xs.size:
                ax.plot(xs, ys, style, color=color, label=label)
                drawn += 1
        if not drawn:
            _note(ax, "No values recorded.")
        if log_y and drawn:
            _log_y(ax)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        _legend(ax)

    _render(path, draw)
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
    steps, values = _finite(series(m.train, "step"), series(m.train, key))

    def draw(ax: Axes) -> None:
        if steps.size:
            ax.plot(steps, values * scale, color=color, label=title.split(" (")[0].lower())
        else:
            _note(ax, "No values recorded.")
        if hline is not None:
            ax.axhline(hline, color=NEUTRAL_COLOR, linestyle="--", linewidth=1.0, label=hline_label)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        if count_axis:
            ax.yaxis.set_major_formatter(_COUNT_FORMATTER)
        if from_zero and steps.size:
            ax.set_ylim(0.0, float(values.max()) * scale * 1.1 or 1.0)
        if hline is not None:
            _legend(ax)

    _render(path, draw)
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
            _legend(ax)
        else:
            _note(ax, "No values recorded.")
        ax.set_title("Learning rate")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")

    _render(path, draw)
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
        xs, ys = _finite(steps, peak)
        if xs.size:
            ax.plot(
                xs,
                ys,
                color=PALETTE[2],
                alpha=0.45,
                linewidth=1.0,
                label=f"max over each {span}log window",
            )
        xs, ys = _finite(steps, mean)
        if xs.size:
            label = f"mean over each {span}log window" if has_max else "at each log step"
            ax.plot(xs, ys, color=PALETTE[2], label=label)
        else:
            _note(ax, "No values recorded.")
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
        _legend(ax)

    _render(path, draw)
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
        xs, ys = _finite(steps, gap)
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
            _note(ax, "No evaluation has both a train and a val loss.")
        ax.set_title("Generalisation gap")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("val loss - train loss (nats/token)")
        _legend(ax)

    _render(path, draw)
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
    "perplexity.png",
    "accuracy.png",
    "gap.png",
    "lr.png",
    "grad_norm.png",
    "throughput.png",
    "memory.png",
    "mfu.png",
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


# ---------------------------------------------------------------------------------------------
# Overlays of several runs


@dataclass(frozen=True)
class OverlayRun:
    """One run in an overlay: a label and its metrics (bytes_per_token for bits-per-byte axes)."""

    label: str
    metrics: RunMetrics
    bytes_per_token: float | None = None


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
) -> Plot:
    data: dict[str, np.ndarray] = {}

    def draw(ax: Axes) -> None:
        drawn = 0
        for i, run in enumerate(runs):
            records = run.metrics.eval if kind == "eval" else run.metrics.train
            xs, ys = _finite(series(records, x_key), y(run), positive=log_y)
            data[run.label] = ys
            if xs.size:
                style = "o-" if kind == "eval" else "-"
                ax.plot(
                    xs,
                    ys,
                    style,
                    color=PALETTE[i % len(PALETTE)],
                    label=run.label,
                    linewidth=1.8 if kind == "eval" else 1.2,
                    markersize=4,
                )
                drawn += 1
        if not drawn:
            _note(ax, "No run has these values.")
        elif log_y:
            _log_y(ax)
        ax.set_title(title)
        ax.set_xlabel("tokens seen" if x_key == "tokens" else "optimizer step")
        if x_key == "tokens":
            ax.xaxis.set_major_formatter(_COUNT_FORMATTER)
        ax.set_ylabel(ylabel)
        _legend(ax)

    _render(path, draw)
    return Plot(path, title, caption, data)


def plot_overlays(runs: Sequence[OverlayRun], out_dir: str | Path) -> list[Plot]:
    """Overlaid curves of several runs: val loss (tokens, steps), bits per byte, ppl, acc, train."""
    out = Path(out_dir)
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
            "window of that run (not smoothed).",
            kind="train",
            x_key="tokens",
            y=lambda r: series(r.metrics.train, "loss"),
            ylabel="train loss, mean per log window",
        ),
    ]
    return plots
