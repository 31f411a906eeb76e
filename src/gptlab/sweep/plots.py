"""The pictures of a sweep: each parameter's effect, the two-parameter heatmap, the curves.

Drawn in gptlab's figure style (report.figures) with math text off, so values such as "lr_$x"
are shown as written. Every picture is drawn from the same numbers as the tables beside it.
"""

from __future__ import annotations

import math
from typing import Any

from gptlab.sweep.analysis import GridMatrix, ParameterEffect
from gptlab.sweep.results import read_metrics
from gptlab.sweep.spec import SweepSpec, canonical, format_value, short_value
from gptlab.sweep.state import TrialRecord


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _jitter(n: int, count: int) -> float:
    """A fixed horizontal offset for the n-th of `count` points sharing one category."""
    return 0.0 if count < 2 else (n / (count - 1) - 0.5) * 0.24


def effect_plot(effect: ParameterEffect, metric: str) -> bytes:
    """Every finished trial as a dot, the mean per value as a line, the best per value dashed."""
    from gptlab.report.figures import NEUTRAL_COLOR, PALETTE, png_bytes

    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    numeric = all(v.position is not None for v in effect.values)
    ys = [m for _, m in effect.points]
    if numeric:
        xs = [float(v) for v, _ in effect.points]
        positions = [v.position or 0.0 for v in effect.values]
    else:
        labels = [v.label for v in effect.values]
        where = {label: i for i, label in enumerate(labels)}
        seen: dict[str, int] = {}
        totals = {
            label: sum(format_value(v) == label for v, _ in effect.points) for label in labels
        }
        xs = []
        for value, _ in effect.points:
            label = format_value(value)
            xs.append(where[label] + _jitter(seen.get(label, 0), totals[label]))
            seen[label] = seen.get(label, 0) + 1
        positions = list(range(len(labels)))
        ax.set_xticks(positions, labels)
    ax.scatter(
        xs,
        ys,
        s=34,
        alpha=0.75,
        color=NEUTRAL_COLOR,
        edgecolors="white",
        linewidths=0.6,
        zorder=3,
        label=f"a trial ({len(ys)})",
    )
    ax.plot(positions, [v.mean for v in effect.values], "o-", color=PALETTE[0], label="mean")
    ax.plot(positions, [v.best for v in effect.values], "s--", color=PALETTE[2], label="best")
    if numeric:
        if effect.log_axis:
            ax.set_xscale("log")
        _label_values(ax, positions, [v.label for v in effect.values])
    ax.set_xlabel(effect.name)
    ax.set_ylabel(f"{metric} (lower is better)")
    ax.set_title(f"{effect.name}: spread of the means {effect.spread:.4f}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def _label_values(ax: Any, positions: list[float], labels: list[str]) -> None:
    """Ticks at the swept values, labelled as the tables write them (no 10^x math text)."""
    from matplotlib.ticker import NullLocator

    if any(".." in label for label in labels):  # bins of a range: the axis chooses the ticks
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: short_value(float(x))))
        ax.xaxis.set_minor_locator(NullLocator())
        return
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(positions, labels)


def heatmap_plot(matrix: GridMatrix, metric: str) -> bytes:
    """The metric of every combination of two parameters, each cell labelled with its value."""
    import numpy as np

    from gptlab.report.figures import png_bytes

    values = np.array(
        [[math.nan if c is None else c for c in row] for row in matrix.cells], dtype=float
    )
    fig = _figure(8.0, max(3.6, 0.5 * len(matrix.row_values) + 2.0))
    ax = fig.add_subplot()
    cmap = _colormap()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    finite = values[np.isfinite(values)]
    middle = float(finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i, row in enumerate(matrix.cells):
        for j, cell in enumerate(row):
            text = "no result" if cell is None else f"{cell:.4f}"
            dark = cell is not None and cell > middle  # reversed map: high values are dark
            ax.text(
                j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black"
            )
    ax.set_xticks(range(len(matrix.col_values)), [format_value(v) for v in matrix.col_values])
    ax.set_yticks(range(len(matrix.row_values)), [format_value(v) for v in matrix.row_values])
    ax.set_xlabel(matrix.cols)
    ax.set_ylabel(matrix.rows)
    ax.set_title(f"{metric} per combination (lower is better)")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label=metric)
    return png_bytes(fig)


def _colormap() -> Any:
    import matplotlib

    # A combination with no finished trial is light grey.
    return matplotlib.colormaps["viridis_r"].with_extremes(bad="#e5e7eb")


def trial_evals(spec: SweepSpec, ranked: list[TrialRecord]) -> dict[str, list[dict[str, Any]]]:
    """Trial id -> its evaluation records, for finished trials that have some."""
    evals_of = {
        t.trial_id: [
            r for r in read_metrics(spec.trials_dir / t.trial_id) if r.get("kind") == "eval"
        ]
        for t in ranked
        if t.status == "done"
    }
    return {trial: evals for trial, evals in evals_of.items() if evals}


def has_val_loss(evals_of: dict[str, list[dict[str, Any]]]) -> bool:
    """Some trial's evaluation has a val loss (the data has a val split)."""
    return any(r.get("val_loss") is not None for evals in evals_of.values() for r in evals)


def curves_plot(
    ranked: list[TrialRecord],
    evals_of: dict[str, list[dict[str, Any]]],
    colors: dict[str, str],
    has_val: bool,
) -> bytes:
    """Train and val loss of every finished trial against steps, and the gap (val - train);
    without a val loss (has_val False), train loss alone in one panel."""
    from gptlab.report.figures import png_bytes

    done = [t for t in ranked if t.trial_id in evals_of]
    fig = _figure(11.0 if has_val else 6.5, 3.9)
    ax_loss = fig.add_subplot(1, 2, 1) if has_val else fig.add_subplot(1, 1, 1)
    ax_gap = fig.add_subplot(1, 2, 2) if has_val else None
    for t in done:
        evals = evals_of[t.trial_id]
        with_val = [r for r in evals if r.get("val_loss") is not None]
        with_train = [r for r in evals if r.get("train_loss") is not None]
        color = colors[t.trial_id]
        if with_val:
            steps = [r.get("step", 0) for r in with_val]
            ax_loss.plot(
                steps, [r["val_loss"] for r in with_val], "-", color=color, label=t.trial_id
            )
        ax_loss.plot(
            [r.get("step", 0) for r in with_train],
            [r["train_loss"] for r in with_train],
            ":" if has_val else "-",
            color=color,
            label=None if with_val else t.trial_id,  # data without a val split: train only
        )
        if ax_gap is not None:
            both = [r for r in with_train if r.get("val_loss") is not None]
            ax_gap.plot(
                [r.get("step", 0) for r in both],
                [r["val_loss"] - r["train_loss"] for r in both],
                "-",
                color=color,
            )
    ax_loss.set_title(
        "val (solid) and train (dotted) loss" if has_val else "train loss (no val split)"
    )
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(alpha=0.3)
    if ax_gap is not None:
        ax_gap.set_title("gap: val loss - train loss")
        ax_gap.set_xlabel("step")
        ax_gap.axhline(0.0, color="black", linewidth=0.6)
        ax_gap.grid(alpha=0.3)
    if len(done) <= 12 and ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(fontsize=6)
    return png_bytes(fig)


def trial_colors(records: list[TrialRecord]) -> dict[str, str]:
    """One colour per trial, in trial order, the same in every picture of the sweep."""
    from gptlab.report.figures import PALETTE

    ordered = sorted(records, key=lambda t: (t.index, canonical(t.params)))
    return {t.trial_id: PALETTE[n % len(PALETTE)] for n, t in enumerate(ordered)}
