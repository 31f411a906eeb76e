"""sweep.json: what a sweep remembers about each trial, and how records meet a (changed) spec."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab.errors import DataError
from gptlab.fileio import atomic_write_json
from gptlab.jsonio import read_json_file
from gptlab.sweep.spec import SweepSpec, TrialPlan, trial_fingerprint, utc_now

STATE_FORMAT = "gptlab-sweep"
STATE_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")

_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "trial_id": (str,),
    "index": (int,),
    "params": (dict,),
    "fingerprint": (str,),
    "status": (str,),
    "error": (str, type(None)),
    "results": (dict,),
    "attempts": (int,),
    "started": (str, type(None)),
    "finished": (str, type(None)),
    "in_spec": (bool,),
}
"""The JSON types of TrialRecord's fields, as sweep.json holds them."""


def _check_record_field(source: Path, name: str, value: object) -> None:
    kinds = _RECORD_FIELDS[name]
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return
    raise DataError(
        f"{source} is damaged: trial field {name!r} is {value!r:.80}, not "
        f"{' or '.join(k.__name__ for k in kinds)}. Move the file away to start over."
    )


@dataclass
class TrialRecord:
    """What sweep.json remembers about one trial."""

    trial_id: str
    index: int
    params: dict[str, Any]
    fingerprint: str
    status: str = "pending"
    error: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    """RunSummary's headline numbers (val_loss, train_loss, gap, steps, wall_s ...), their
    `sources`, and trial_s: the whole trial's wall-clock seconds."""
    attempts: int = 0
    started: str | None = None
    finished: str | None = None
    in_spec: bool = True
    """False for a trial of an earlier version of the spec (kept, not summarised)."""

    def metric(self, name: str) -> float | None:
        """The value of a metric for a done trial, else None."""
        value = self.results.get(name)
        if self.status != "done" or not isinstance(value, int | float):
            return None
        return float(value)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> TrialRecord:
        """The record of one trial in `source` (sweep.json); DataError when a field is off."""
        values = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
        for name in ("trial_id", "index", "params", "fingerprint"):
            values.setdefault(name, None)  # required: a missing one fails the check below
        for name, value in values.items():
            _check_record_field(source, name, value)
        if values.get("status", "pending") not in STATUSES:
            raise DataError(
                f"{source} is damaged: trial status {values['status']!r:.40} is not one of "
                f"{', '.join(STATUSES)}. Move the file away to start over."
            )
        return cls(**values)


@dataclass
class SweepState:
    """The whole of sweep.json."""

    name: str
    spec_path: str
    method: str
    metric: str
    created: str
    trials: list[TrialRecord]

    def save(self, path: Path) -> None:
        atomic_write_json(
            path,
            {
                "format": STATE_FORMAT,
                "format_version": STATE_VERSION,
                "name": self.name,
                "spec": self.spec_path,
                "method": self.method,
                "metric": self.metric,
                "created": self.created,
                "updated": utc_now(),
                "trials": [t.to_json() for t in self.trials],
            },
        )

    @property
    def current(self) -> list[TrialRecord]:
        """Trials of the current spec, in spec order."""
        return sorted((t for t in self.trials if t.in_spec), key=lambda t: t.index)


def load_state(out_dir: str | Path) -> SweepState:
    """Read <out>/sweep.json; DataError when it is missing or not a sweep state."""
    path = Path(out_dir) / "sweep.json"
    if not path.is_file():
        raise DataError(
            f"No sweep state at {path}: this sweep has not run yet. Run `gptlab sweep SPEC.toml` "
            "first (or check [sweep] out)."
        )
    data = read_json_file(path, fix="Move it away to start over.")
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise DataError(f"{path} is not a gptlab sweep state file; move it away to start over.")
    if data.get("format_version") != STATE_VERSION:
        raise DataError(
            f"{path} has sweep state version {data.get('format_version')}, this gptlab reads "
            f"version {STATE_VERSION}: use the gptlab that wrote it, or start a new sweep."
        )
    trials = data.get("trials", [])
    if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
        raise DataError(
            f'{path} is damaged: "trials" is {trials!r:.80}, not a list of trial records. Move '
            "it away to start over."
        )
    return SweepState(
        name=str(data.get("name", "")),
        spec_path=str(data.get("spec", "")),
        method=str(data.get("method", "")),
        metric=str(data.get("metric", "val_loss")),
        created=str(data.get("created", utc_now())),
        trials=[TrialRecord.from_json(t, path) for t in trials],
    )


@dataclass(frozen=True)
class Reconciliation:
    """How the recorded trials line up with the spec's plan."""

    kept: int
    """Recorded trials that match a planned trial (results reused)."""
    new: int
    """Planned trials with no record yet."""
    retired: int
    """Recorded trials that no longer match the spec (set aside, folders untouched)."""


def reconcile(
    spec: SweepSpec, state: SweepState, plans: list[TrialPlan]
) -> tuple[list[TrialRecord], Reconciliation]:
    """Match planned trials to recorded ones by fingerprint; new ones get a free folder name.

    Returns the trials of the current spec in order (recorded ones first matched by id, then by
    fingerprint alone, which survives a re-numbering) and what happened. Unmatched recorded
    trials stay in `state.trials` with in_spec=False.
    """
    recorded = list(state.trials)
    unmatched = set(range(len(recorded)))
    by_id = {t.trial_id: i for i, t in enumerate(recorded)}
    chosen: list[TrialRecord | None] = [None] * len(plans)
    for n, plan in enumerate(plans):
        fp = trial_fingerprint(spec, plan.params)
        i = by_id.get(plan.trial_id)
        if i is not None and i in unmatched and recorded[i].fingerprint == fp:
            chosen[n] = recorded[i]
            unmatched.discard(i)
    for n, plan in enumerate(plans):
        if chosen[n] is not None:
            continue
        fp = trial_fingerprint(spec, plan.params)
        for i in sorted(unmatched):
            if recorded[i].fingerprint == fp:
                chosen[n] = recorded[i]
                unmatched.discard(i)
                break
    kept = sum(c is not None for c in chosen)
    taken = {t.trial_id for t in recorded}
    current: list[TrialRecord] = []
    for n, plan in enumerate(plans):
        record = chosen[n]
        if record is None:
            tid = plan.trial_id
            suffix = 2
            while tid in taken:  # a set-aside trial of an older spec holds this folder
                tid = f"{plan.trial_id}-v{suffix}"
                suffix += 1
            taken.add(tid)
            record = TrialRecord(tid, plan.index, plan.params, trial_fingerprint(spec, plan.params))
        record.index = plan.index
        record.in_spec = True
        current.append(record)
    for i in unmatched:
        recorded[i].in_spec = False
    in_current = {id(t) for t in current}
    state.trials = current + [t for t in recorded if id(t) not in in_current]
    return current, Reconciliation(kept, len(plans) - kept, len(unmatched))
