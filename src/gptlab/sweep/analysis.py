"""What a sweep's results say: trials ranked, each parameter's effect, confounded parameters.

Trade-off: effects are marginal means (each parameter's values averaged over whatever the other
parameters did), which is exact for a full grid and misleading when two parameters moved together
in a random search; confounded_pairs says when that happened.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from gptlab.sweep.spec import canonical, format_value
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
    """The effect table of one parameter: value, trials, mean and best metric."""
    header = [effect.name, "trials", "mean", "best"]
    rows = [[v.label, str(v.trials), f"{v.mean:.4f}", f"{v.best:.4f}"] for v in effect.values]
    return header, rows


CONFOUNDED_AT = 0.5
"""|rank correlation| or Cramer's V from which two parameters' effects cannot be told apart."""


@dataclass(frozen=True)
class Confounding:
    """Two swept parameters whose values moved together across the finished trials."""

    first: str
    second: str
    strength: float
    """Spearman rank correlation (-1..1) of two numbers, else Cramer's V (0 none, 1 locked)."""
    measure: str
    trials: int

    def message(self) -> str:
        """One sentence for the summary and the terminal."""
        return (
            f"{self.first} and {self.second} are confounded in the {self.trials} finished trials "
            f"({self.measure} {self.strength:.2f}): their values moved together, so the effect "
            "tables cannot tell which of the two moved the metric. Run more trials, or a grid "
            "over these two."
        )


def _labels(values: list[Any]) -> list[str]:
    """Category of each value: itself, or one of four equal-count bins for many numbers."""
    if (
        all(_is_number(v) for v in values)
        and len({canonical(v) for v in values}) > _MAX_EXACT_VALUES
    ):
        order = sorted(range(len(values)), key=lambda i: float(values[i]))
        labels = [""] * len(values)
        for rank, i in enumerate(order):
            labels[i] = f"bin{rank * _BINS // len(values)}"
        return labels
    return [canonical(v) for v in values]


def _ranks(values: list[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(a: list[float], b: list[float]) -> float | None:
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    sa = math.sqrt(sum((x - ma) ** 2 for x in ra))
    sb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    if sa == 0 or sb == 0:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True)) / (sa * sb)


def _cramers_v(a: list[str], b: list[str]) -> float | None:
    rows, cols = sorted(set(a)), sorted(set(b))
    if len(rows) < 2 or len(cols) < 2:
        return None
    n = len(a)
    counts: dict[tuple[str, str], int] = {}
    for pair in zip(a, b, strict=True):
        counts[pair] = counts.get(pair, 0) + 1
    row_n = {r: a.count(r) for r in rows}
    col_n = {c: b.count(c) for c in cols}
    chi2 = 0.0
    for r in rows:
        for c in cols:
            expected = row_n[r] * col_n[c] / n
            chi2 += (counts.get((r, c), 0) - expected) ** 2 / expected
    return math.sqrt(chi2 / (n * (min(len(rows), len(cols)) - 1)))


def confounded_pairs(params_of_trials: list[dict[str, Any]], names: list[str]) -> list[Confounding]:
    """Pairs of swept parameters whose values are associated across the given (finished) trials.

    Two numeric parameters are compared by Spearman's rank correlation, any other pair by
    Cramer's V over their values (many-valued numbers in four bins). A full grid gives 0.
    """
    found = []
    n = len(params_of_trials)
    if n < 3:
        return []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a: list[Any] = [p.get(first) for p in params_of_trials]
            b: list[Any] = [p.get(second) for p in params_of_trials]
            if all(_is_number(v) for v in a + b):
                rho = _spearman([float(v) for v in a], [float(v) for v in b])
                strength, measure = rho, "rank correlation"
            else:
                strength, measure = _cramers_v(_labels(a), _labels(b)), "Cramer's V"
            if strength is not None and abs(strength) >= CONFOUNDED_AT:
                found.append(Confounding(first, second, strength, measure, n))
    return found


@dataclass(frozen=True)
class GridMatrix:
    """The metric over the combinations of two parameters: the numbers behind the heatmap."""

    rows: str
    """Parameter along the rows (y)."""
    cols: str
    """Parameter along the columns (x)."""
    row_values: list[Any]
    col_values: list[Any]
    cells: list[list[float | None]]
    """cells[i][j]: mean metric of the done trials at (row_values[i], col_values[j]); None: none."""


def grid_matrix(records: list[TrialRecord], rows: str, cols: str, metric: str) -> GridMatrix | None:
    """The metric of every (rows, cols) combination, or None when either has a single value."""

    def ordered(name: str) -> list[Any]:
        values = {canonical(t.params[name]): t.params[name] for t in records if name in t.params}
        return sorted(values.values(), key=lambda v: (not _is_number(v), _sort_key(v)))

    row_values, col_values = ordered(rows), ordered(cols)
    if len(row_values) < 2 or len(col_values) < 2:
        return None
    cells: list[list[float | None]] = []
    for rv in row_values:
        line: list[float | None] = []
        for cv in col_values:
            got = [
                m
                for t in records
                if (m := t.metric(metric)) is not None
                and canonical(t.params.get(rows)) == canonical(rv)
                and canonical(t.params.get(cols)) == canonical(cv)
            ]
            line.append(statistics.fmean(got) if got else None)
        cells.append(line)
    return GridMatrix(rows, cols, row_values, col_values, cells)
