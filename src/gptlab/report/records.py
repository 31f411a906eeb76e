"""Reading metrics.jsonl into records by kind, and the series computed from them.

The file is read defensively: a killed run can leave a half-written last line (skipped) and a
resumed run logs some steps twice (the later record wins). Plots, pages and the run summary all
read it through load_metrics, so they agree on what a run logged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.errors import ConfigError
from gptlab.jsonio import JSON_ERRORS, is_whole_number


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
    clock = _TrainingClock()
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
            clock.stamp(record)
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


class _TrainingClock:
    """Adds "wall_s" to records: the training time since the run began, with resumed segments
    joined (each process's elapsed_s starts again at 0; the time between the last checkpoint and
    a crash is not counted, since those steps were trained again)."""

    def __init__(self) -> None:
        self.offset_s = 0.0
        self.last_s = 0.0

    def stamp(self, record: dict[str, Any]) -> None:
        elapsed = record.get("elapsed_s")
        if not isinstance(elapsed, int | float) or isinstance(elapsed, bool):
            return
        if not math.isfinite(elapsed) or elapsed < 0:
            return
        if elapsed < self.last_s:  # a resumed process: its clock started again
            self.offset_s += self.last_s
        self.last_s = float(elapsed)
        record["wall_s"] = self.offset_s + float(elapsed)


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


DEFAULT_SMOOTHING = 0.6
"""EMA weight of the smoothed train-loss line (TensorBoard's default); 0 draws the raw line only."""


def check_smoothing(smoothing: float) -> None:
    """ConfigError unless smoothing is an EMA weight, 0 <= w < 1."""
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(
            f"smoothing={smoothing} is not an EMA weight: use a value from 0 (no smoothing) up "
            f"to below 1, e.g. {DEFAULT_SMOOTHING}."
        )


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
