"""Run plots of what training measured at its evaluation steps beyond the loss: benchmark
accuracy over steps (HellaSwag, LAMBADA), the parameter norm, and per-layer-group gradient norms
and update/weight ratios. Registered in plots.render_run_plots, drawn only when recorded.

Trade-off: these values are taken at evaluation steps only (one step's gradients each), so the
curves have as many points as there were evaluations and show trends, not step-to-step noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from gptlab.report.figures import (
    NEUTRAL_COLOR,
    PALETTE,
    Plot,
    finite,
    legend,
    note,
    render,
    set_log_y,
)
from gptlab.report.records import RunMetrics, series

HELLASWAG_CHANCE = 0.25
"""Four endings per HellaSwag row: a guess is right a quarter of the time."""
UPDATE_RATIO_GUIDE = 1e-3
"""A common rule of thumb: ||update|| / ||weights|| near 1e-3 per step is a healthy rate."""
MODEL_PLOT_FILES = ("benchmarks.png", "param_norm.png", "grad_norm_groups.png", "update_ratio.png")
"""The files this module may write into plots/."""


def has_benchmarks(m: RunMetrics) -> bool:
    """Whether any eval record holds a HellaSwag or LAMBADA accuracy."""
    return any(np.isfinite(series(m.eval, k)).any() for k in ("hellaswag_acc", "lambada_acc"))


def benchmark_plot(m: RunMetrics, path: Path) -> Plot:
    """HellaSwag acc and acc_norm and LAMBADA accuracy at each evaluation, with chance."""
    steps = series(m.eval, "step")
    keys = (
        ("hellaswag_acc_norm", "HellaSwag acc_norm", PALETTE[0], "o-"),
        ("hellaswag_acc", "HellaSwag acc", PALETTE[0], "o--"),
        ("lambada_acc", "LAMBADA last-word acc", PALETTE[2], "s-"),
    )
    data: dict[str, np.ndarray] = {"step": steps}
    counts = {
        name: int(np.nanmax(c)) if np.isfinite(c := series(m.eval, f"{name}_count")).any() else 0
        for name in ("hellaswag", "lambada")
    }

    def draw(ax: Axes) -> None:
        for key, label, color, style in keys:
            values = series(m.eval, key)
            data[key] = values
            xs, ys = finite(steps, values * 100.0)
            if xs.size:
                count = counts[key.partition("_")[0]]
                ax.plot(xs, ys, style, color=color, label=f"{label} (n={count:,})")
        if counts["hellaswag"]:
            ax.axhline(
                HELLASWAG_CHANCE * 100.0,
                color=NEUTRAL_COLOR,
                linestyle=":",
                label="HellaSwag chance (25%)",
            )
        ax.set_title("Benchmark accuracy during training")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(bottom=0)
        legend(ax)

    render(path, draw)
    return Plot(
        path,
        "Benchmark accuracy during training",
        "HellaSwag (pick the right one of 4 endings; acc_norm divides each ending's log-prob by "
        "its length) and LAMBADA last-word accuracy at each evaluation, on the first n rows of "
        "the files given; the dotted line is HellaSwag's chance level.",
        data,
    )


def param_norm_plot(m: RunMetrics, path: Path) -> Plot:
    """The L2 norm of all weights at each evaluation."""
    steps, norms = series(m.eval, "step"), series(m.eval, "param_norm")

    def draw(ax: Axes) -> None:
        xs, ys = finite(steps, norms)
        if xs.size:
            ax.plot(xs, ys, "o-", color=PALETTE[4], label="all parameters")
        else:
            note(ax, "No values recorded.")
        ax.set_title("Parameter norm")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("L2 norm of all weights")
        legend(ax)

    render(path, draw)
    return Plot(
        path,
        "Parameter norm",
        "The L2 norm of every weight together at each evaluation: it grows while the model "
        "learns and weight decay holds it back; a sudden jump often comes with a loss spike.",
        {"step": steps, "param_norm": norms},
    )


def group_series(records: Sequence[dict[str, Any]], key: str) -> dict[str, np.ndarray]:
    """A dict-valued field (group -> value) as one array per group, NaN where missing."""
    groups: list[str] = []
    for record in records:
        values = record.get(key)
        if isinstance(values, dict):
            groups.extend(g for g in values if g not in groups)
    out = {}
    for group in groups:
        column = np.full(len(records), np.nan)
        for i, record in enumerate(records):
            value = (record.get(key) or {}).get(group)
            if isinstance(value, int | float) and not isinstance(value, bool):
                column[i] = float(value)
        column[~np.isfinite(column)] = np.nan
        out[group] = column
    return out


def _group_plot(
    m: RunMetrics,
    path: Path,
    key: str,
    *,
    title: str,
    caption: str,
    ylabel: str,
    guide: float | None = None,
) -> Plot:
    steps = series(m.eval, "step")
    groups = group_series(m.eval, key)

    def draw(ax: Axes) -> None:
        drawn = 0
        for i, (group, values) in enumerate(groups.items()):
            xs, ys = finite(steps, values, positive=True)
            if xs.size:
                # Blocks share one hue, darker with depth; embeddings and head stand apart.
                if group.startswith("block."):
                    color, style = PALETTE[0], "-"
                    alpha = 0.35 + 0.65 * (i / max(1, len(groups) - 1))
                else:
                    color = PALETTE[1] if group == "embeddings" else PALETTE[2]
                    style, alpha = "--", 1.0
                ax.plot(xs, ys, style, marker="o", color=color, alpha=alpha, label=group)
                drawn += 1
        if guide is not None and drawn:
            ax.axhline(guide, color=NEUTRAL_COLOR, linestyle=":", label=f"{guide:g} guide")
        if drawn:
            set_log_y(ax)
        else:
            note(ax, "No values recorded.")
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        legend(ax)

    render(path, draw)
    return Plot(path, title, caption, {"step": steps, **groups})


def grad_groups_plot(m: RunMetrics, path: Path) -> Plot:
    """Per-group gradient norms (before clipping) of the step before each evaluation."""
    return _group_plot(
        m,
        path,
        "grad_norm_by_group",
        title="Gradient norm by layer group",
        caption="L2 norm of each group's gradients on the step before each evaluation, before "
        "clipping, log scale: a group far above the others is where a spike starts. head is the "
        "final LayerNorm and LM head; with tied weights the LM head is the token embedding and "
        "counts under embeddings.",
        ylabel="gradient L2 norm (log scale)",
    )


def update_ratio_plot(m: RunMetrics, path: Path) -> Plot:
    """||update|| / ||weights|| per group on the step before each evaluation."""
    return _group_plot(
        m,
        path,
        "update_ratio_by_group",
        title="Update / weight ratio by layer group",
        caption="How far one optimizer step moved each group's weights, relative to their size, "
        "on the step before each evaluation (log scale); the dotted line is the 1e-3 rule of "
        "thumb: far below learns slowly, far above is unstable.",
        ylabel="||update|| / ||weights|| (log scale)",
        guide=UPDATE_RATIO_GUIDE,
    )


def model_state_plots(m: RunMetrics, out_dir: Path) -> list[Plot]:
    """Every plot of this module the eval records support."""
    plots = []
    if has_benchmarks(m):
        plots.append(benchmark_plot(m, out_dir / "benchmarks.png"))
    if np.isfinite(series(m.eval, "param_norm")).any():
        plots.append(param_norm_plot(m, out_dir / "param_norm.png"))
    if group_series(m.eval, "grad_norm_by_group"):
        plots.append(grad_groups_plot(m, out_dir / "grad_norm_groups.png"))
    if group_series(m.eval, "update_ratio_by_group"):
        plots.append(update_ratio_plot(m, out_dir / "update_ratio.png"))
    return plots
