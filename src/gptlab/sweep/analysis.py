"""What a sweep's results say: trials ranked, each parameter's effect, the pictures of both."""

from __future__ import annotations

import io
import statistics
from dataclasses import dataclass
from typing import Any

from gptlab.sweep.results import read_metrics
from gptlab.sweep.spec import SweepSpec, canonical, format_value
from gptlab.sweep.state import TrialRecord


@dataclass(frozen=True)
class ValueEffect:
    """The metric over the finished trials that used one value (or one bin) of a parameter."""

    label: str
    """The value as text, or the bin as "lo..hi" for a range with many values."""
    position: float | None
    """Where the value sits on a numeric axis (mean of its values), None for text values."""
    trials: int
    mean: float
    best: float


@dataclass(frozen=True)
class ParameterEffect:
    """How one parameter moved the metric."""

    name: str
    values: list[ValueEffect]
    spread: float
    """max - min of the per-value mean metric: how much this parameter mattered."""
    log_axis: bool
    points: list[tuple[Any, float]]
    """(value, metric) of every finished trial, for the faint dots of the plot."""


_MAX_EXACT_VALUES = 6
_BINS = 4


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parameter_effects(
    points_by_parameter: dict[str, list[tuple[Any, float]]],
    log_names: frozenset[str] = frozenset(),
) -> list[ParameterEffect]:
    """Mean and best (lowest) metric per value of each parameter, ranked by spread of the means.

    `points_by_parameter` maps a parameter to the (value, metric) pairs of finished trials. A
    numeric parameter with more than six distinct values (a random range) is grouped into four
    bins of about equal counts. Parameters with a single value have spread 0 and rank last.
    """
    effects = []
    for name, points in points_by_parameter.items():
        if not points:
            continue
        groups: dict[str, list[tuple[Any, float]]] = {}
        distinct = {canonical(v) for v, _ in points}
        numeric = all(_is_number(v) for v, _ in points)
        if numeric and len(distinct) > _MAX_EXACT_VALUES:
            ordered = sorted(points, key=lambda p: p[0])
            for b in range(_BINS):
                chunk = ordered[b * len(ordered) // _BINS : (b + 1) * len(ordered) // _BINS]
                if chunk:
                    label = f"{format_value(chunk[0][0])}..{format_value(chunk[-1][0])}"
                    groups[label] = chunk
        else:
            ordered = sorted(points, key=lambda p: (not _is_number(p[0]), _sort_key(p[0])))
            for value, metric in ordered:
                groups.setdefault(format_value(value), []).append((value, metric))
        values = []
        for label, chunk in groups.items():
            metrics = [m for _, m in chunk]
            position = statistics.fmean(float(v) for v, _ in chunk) if numeric else None
            values.append(
                ValueEffect(label, position, len(chunk), statistics.fmean(metrics), min(metrics))
            )
        means = [v.mean for v in values]
        positive = numeric and all(float(v) > 0 for v, _ in points)
        wide = positive and max(float(v) for v, _ in points) >= 10 * min(
            float(v) for v, _ in points
        )
        log_axis = positive and (name in log_names or wide or name.split(".")[-1].endswith("lr"))
        effects.append(
            ParameterEffect(name, values, max(means) - min(means), bool(log_axis), list(points))
        )
    effects.sort(key=lambda e: -e.spread)
    return effects


def _sort_key(value: Any) -> Any:
    return float(value) if _is_number(value) else str(value)


def rank_trials(records: list[TrialRecord], metric: str) -> list[TrialRecord]:
    """Done trials by metric (lowest first), then unfinished ones, then failed ones."""
    done = sorted(
        (t for t in records if t.metric(metric) is not None),
        key=lambda t: t.metric(metric) or 0.0,
    )
    unfinished = [t for t in records if t.status in ("pending", "running")]
    failed = [t for t in records if t.status == "failed" or (t.status == "done" and t not in done)]
    return done + unfinished + failed


def effect_rows(effect: ParameterEffect) -> tuple[list[str], list[list[str]]]:
    header = [effect.name, "trials", "mean", "best"]
    rows = [[v.label, str(v.trials), f"{v.mean:.4f}", f"{v.best:.4f}"] for v in effect.values]
    return header, rows


def png_bytes(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def effect_plot(effect: ParameterEffect, metric: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.add_subplot()
    numeric = all(v.position is not None for v in effect.values)
    if numeric:
        xs = [float(v) for v, _ in effect.points]
        ax.scatter(
            xs, [m for _, m in effect.points], s=14, alpha=0.25, color="gray", label="trials"
        )
        pos = [v.position or 0.0 for v in effect.values]
        ax.plot(pos, [v.mean for v in effect.values], "o-", label="mean")
        ax.plot(pos, [v.best for v in effect.values], "s--", label="best")
        if effect.log_axis:
            ax.set_xscale("log")
    else:
        labels = [v.label for v in effect.values]
        where = {label: i for i, label in enumerate(labels)}
        ax.scatter(
            [where[format_value(v)] for v, _ in effect.points],
            [m for _, m in effect.points],
            s=14,
            alpha=0.25,
            color="gray",
            label="trials",
        )
        ax.plot(range(len(labels)), [v.mean for v in effect.values], "o-", label="mean")
        ax.plot(range(len(labels)), [v.best for v in effect.values], "s--", label="best")
        ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(effect.name)
    ax.set_ylabel(metric)
    ax.set_title(f"{effect.name}: spread of means {effect.spread:.4f}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def curves_plot(spec: SweepSpec, ranked: list[TrialRecord]) -> bytes | None:
    """Train and val loss of every finished trial against steps, and the gap (val - train)."""
    from matplotlib.figure import Figure

    done = [t for t in ranked if t.status == "done"]
    if not done:
        return None
    fig = Figure(figsize=(11.0, 3.8))
    ax_loss, ax_gap = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for n, t in enumerate(done):
        evals = [r for r in read_metrics(spec.trials_dir / t.trial_id) if r.get("kind") == "eval"]
        with_val = [r for r in evals if r.get("val_loss") is not None]
        with_train = [r for r in evals if r.get("train_loss") is not None]
        color = f"C{n % 10}"
        if with_val:
            steps = [r.get("step", 0) for r in with_val]
            ax_loss.plot(
                steps, [r["val_loss"] for r in with_val], "-", color=color, label=t.trial_id
            )
        ax_loss.plot(
            [r.get("step", 0) for r in with_train],
            [r["train_loss"] for r in with_train],
            ":",
            color=color,
            label=None if with_val else t.trial_id,  # data without a val split: train only
        )
        both = [r for r in with_train if r.get("val_loss") is not None]
        ax_gap.plot(
            [r.get("step", 0) for r in both],
            [r["val_loss"] - r["train_loss"] for r in both],
            "-",
            color=color,
        )
    ax_loss.set_title("val loss (solid), train loss (dotted)")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_gap.set_title("generalization gap: val loss - train loss")
    ax_gap.set_xlabel("step")
    ax_gap.axhline(0.0, color="black", linewidth=0.6)
    for ax in (ax_loss, ax_gap):
        ax.grid(alpha=0.3)
    if len(done) <= 12 and ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(fontsize=6)
    return png_bytes(fig)
