"""Hyperparameter sweeps: many training runs from one TOML spec, resumable, with a summary.

A spec file looks like this (every key of [sweep] except `preset` has a default)::

    [sweep]
    name = "lr_width"          # a plain name; the default output folder is sweeps/<name>
    out = "sweeps/lr_width"    # output folder, relative to this spec file's folder
    method = "grid"            # grid (every combination), random (seeded) or optuna (TPE, seeded)
    trials = 8                 # random / optuna only: how many trials
    seed = 0                   # seed of the random / optuna choice of trials
    preset = "tiny"            # the config every trial starts from
    metric = "val_loss"        # minimised: val_loss, val_ppl, best_val_loss, train_loss, ...

    [base]                     # overrides for every trial: tables or dotted keys
    "train.max_steps" = 200
    data.path = "../data/builtin_char"   # relative paths are relative to this spec file

    [parameters]               # dotted field -> list of values, or a range; wins over [base]
    "optim.lr" = [1e-3, 3e-3]
    "model.n_embd" = [32, 64]
    "model.dropout" = { min = 0.0, max = 0.3 }        # random / optuna only
    "optim.weight_decay" = { min = 1e-3, max = 0.3, log = true }

Each trial's config is preset -> [base] -> the trial's values, validated like any config; an
invalid combination (say n_embd not divisible by n_head) is recorded as a failed trial with its
message, and the sweep goes on. Trial `i` trains with gptlab.train.train in `<out>/trials/<id>`;
`<out>/sweep.json` (written atomically after every change) records each trial's values, status
(pending, running, done, failed), results and error. Running the same spec again resumes: done
and failed trials are kept (failed ones re-run with `retry_failed`), a trial left `running` by a
crash or Ctrl-C continues from its newest checkpoint. Trials are matched to the record by a
fingerprint of preset, base and values, so after an edit of the spec the trials that still match
are kept and the others are set aside (folders untouched). The summary (summary.md/.csv/.html and
plots in `<out>`) ranks the trials, shows each parameter's effect (mean and best metric per value)
and which parameter mattered most, and a compare page of all finished runs in `<out>/compare`.

Trade-off: trials run one after another in this process, the simplest thing that resumes exactly
and shares one device; a parallel sweep is several sweeps over disjoint specs.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import html
import io
import itertools
import json
import math
import random
import re
import shutil
import statistics
import sys
import time
import traceback
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gptlab.config import (
    PRESETS,
    SECTIONS,
    Config,
    config_from_dict,
    preset_config,
    read_toml,
)
from gptlab.errors import ConfigError, DataError, GptlabError
from gptlab.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from gptlab.jsonio import JSON_ERRORS, read_json_file
from gptlab.mplstyle import plain_text

METHODS = ("grid", "random", "optuna")
"""How trials are chosen: every combination, seeded random draws, or Optuna's TPE sampler."""

METRICS = (
    "val_loss",
    "val_ppl",
    "best_val_loss",
    "train_loss",
    "train_ppl",
    "gap",
)
"""Metrics a sweep can minimise, all read from the run's eval records in metrics.jsonl.
`best_val_loss` is the lowest val loss of any evaluation; `gap` is val_loss - train_loss at the end.
"""

STATE_FORMAT = "gptlab-sweep"
STATE_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")

OPTUNA_INSTALL_HINT = 'pip install "gptlab[sweep]"'

_SWEEP_KEYS = ("name", "out", "method", "trials", "seed", "preset", "metric")
_TOP_KEYS = ("sweep", "base", "parameters")
_RANGE_KEYS = ("min", "max", "log")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")
_MAX_ID_CHARS = 96
_RANDOM_ATTEMPTS_PER_TRIAL = 200

Log = Callable[[str], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# The spec.


@dataclass(frozen=True)
class Parameter:
    """One swept config field: a list of values, or a numeric range for random/optuna."""

    name: str
    """Dotted config field, e.g. optim.lr."""
    values: tuple[Any, ...] | None = None
    """The values to try (grid: all of them; random/optuna: one of them per trial)."""
    low: float | None = None
    """Lower end of the range (inclusive), when no values are listed."""
    high: float | None = None
    """Upper end of the range (inclusive), when no values are listed."""
    log: bool = False
    """Draw the range uniformly in log space (learning rates, weight decay)."""
    is_int: bool = False
    """The config field is an integer: drawn values are rounded and stay ints."""

    @property
    def is_range(self) -> bool:
        """True when the parameter is a range rather than a list of values."""
        return self.values is None


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep spec; paths are absolute."""

    path: Path
    """The spec file."""
    name: str
    """Plain name of the sweep."""
    out_dir: Path
    """Output folder: sweep.json, summaries, plots, trials/<id>/ run folders."""
    method: str
    """grid, random or optuna."""
    trials: int
    """Number of trials for random/optuna (grid: the number of combinations)."""
    seed: int
    """Seed of the random/optuna choice of trials."""
    preset: str
    """Preset every trial starts from."""
    metric: str
    """The minimised metric (one of METRICS)."""
    base: dict[str, Any]
    """Dotted field -> value overrides for every trial (relative data.path already resolved)."""
    parameters: tuple[Parameter, ...]
    """The swept fields, in spec order."""

    @property
    def trials_dir(self) -> Path:
        """Folder that holds one run folder per trial."""
        return self.out_dir / "trials"

    @property
    def state_path(self) -> Path:
        """The sweep state file."""
        return self.out_dir / "sweep.json"


def _field_kinds(section: str) -> dict[str, Any]:
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_field(dotted: str, where: str) -> Any:
    """The declared type of a dotted config field, or a ConfigError naming the valid fields."""
    section, dot, name = dotted.partition(".")
    if not dot or section not in SECTIONS:
        raise ConfigError(
            f"{where}: {dotted!r} is not a config field. Fields are written section.field with a "
            f"section among {', '.join(SECTIONS)} (for example optim.lr or model.n_embd)."
        )
    kinds = _field_kinds(section)
    if name not in kinds:
        raise ConfigError(
            f"{where}: unknown field {dotted}. Valid fields of [{section}]: {', '.join(kinds)}."
        )
    if dotted == "run.out_dir":
        raise ConfigError(
            f"{where}: run.out_dir cannot be set in a sweep: every trial is written to "
            "<out>/trials/<trial id>. Set [sweep] out instead."
        )
    return kinds[name]


def _flatten(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested tables and quoted dotted keys alike become (dotted name, value) pairs."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "." not in name:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _nest(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in flat.items():
        section, _, name = dotted.partition(".")
        nested.setdefault(section, {})[name] = value
    return nested


def _resolve_data_path(value: Any, spec_dir: Path) -> Any:
    if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
        return str((spec_dir / value).resolve())
    return value


def _parse_parameter(name: str, raw: Any, method: str) -> Parameter:
    kind = _check_field(name, "[parameters]")
    is_int = kind is int
    if isinstance(raw, list):
        if not raw:
            raise ConfigError(
                f"[parameters] {name} = [] has no values: list at least one value to try."
            )
        return Parameter(name, values=tuple(raw), is_int=is_int)
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - set(_RANGE_KEYS))
        if unknown or "min" not in raw or "max" not in raw:
            raise ConfigError(
                f"[parameters] {name} = {raw!r}: a range is a table with min and max and "
                "optionally log = true, e.g. { min = 1e-4, max = 1e-2, log = true }."
            )
        if method == "grid":
            raise ConfigError(
                f"[parameters] {name} is a range, but method = grid needs a list of values. "
                'List the values, or use method = "random" or "optuna".'
            )
        if kind not in (int, float):
            raise ConfigError(
                f"[parameters] {name} is a range, but {name} is not a number: list its values."
            )
        low, high, log = raw["min"], raw["max"], raw.get("log", False)
        numbers_ok = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)
        )
        if not numbers_ok or not isinstance(log, bool) or not low < high:
            raise ConfigError(
                f"[parameters] {name}: min={low!r} and max={high!r} must be numbers with "
                f"min < max, and log={log!r} true or false."
            )
        if log and low <= 0:
            raise ConfigError(
                f"[parameters] {name}: a log range needs min > 0 (got {low}); raise min or "
                "drop log = true."
            )
        if is_int and (not float(low).is_integer() or not float(high).is_integer()):
            raise ConfigError(
                f"[parameters] {name} is a whole-number field: give whole-number min and max."
            )
        return Parameter(name, low=float(low), high=float(high), log=log, is_int=is_int)
    raise ConfigError(
        f"[parameters] {name} = {raw!r}: give a list of values, e.g. [1e-3, 3e-3], "
        "or (random/optuna) a range { min = ..., max = ..., log = true }."
    )


def _int_setting(table: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"[sweep] {key} = {value!r}: give a whole number >= {minimum}.")
    return value


def _str_setting(table: dict[str, Any], key: str, default: str | None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[sweep] {key} = {value!r}: give a non-empty string.")
    return value


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec file (see the module docstring for the format)."""
    spec_path = Path(path).expanduser().resolve()
    raw = read_toml(spec_path)
    unknown = sorted(set(raw) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"{spec_path}: unknown table [{unknown[0]}]. A sweep spec has the tables "
            f"{', '.join(f'[{k}]' for k in _TOP_KEYS)}."
        )
    table = raw.get("sweep", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{spec_path}: [sweep] must be a table.")
    unknown = sorted(set(table) - set(_SWEEP_KEYS))
    if unknown:
        raise ConfigError(
            f"{spec_path}: unknown key {unknown[0]!r} in [sweep]. Valid keys: "
            f"{', '.join(_SWEEP_KEYS)}."
        )
    name = _str_setting(table, "name", spec_path.stem)
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ConfigError(
            f"[sweep] name = {name!r}: use a plain name of letters, digits, '.', '_' and '-' "
            "(no '/' or '..'), e.g. lr_width."
        )
    out_text = _str_setting(table, "out", f"sweeps/{name}")
    out_dir = (spec_path.parent / Path(out_text).expanduser()).resolve()
    if out_dir == spec_path.parent or spec_path.parent.is_relative_to(out_dir):
        raise ConfigError(
            f"[sweep] out = {out_text!r} resolves to {out_dir}, which holds the spec file itself. "
            'Give the sweep its own folder, e.g. out = "sweeps/<name>".'
        )
    method = _str_setting(table, "method", "grid")
    if method not in METHODS:
        raise ConfigError(f"[sweep] method = {method!r}: choose one of {', '.join(METHODS)}.")
    trials = _int_setting(table, "trials", 0 if method == "grid" else 8, 0)
    if method != "grid" and trials < 1:
        raise ConfigError(f"[sweep] trials = {trials}: method {method} needs trials >= 1.")
    seed = _int_setting(table, "seed", 0, 0)
    preset = _str_setting(table, "preset", "tiny")
    if preset not in PRESETS:
        raise ConfigError(
            f"[sweep] preset = {preset!r} is not a preset. Valid presets: {', '.join(PRESETS)}."
        )
    metric = _str_setting(table, "metric", "val_loss")
    if metric not in METRICS:
        raise ConfigError(
            f"[sweep] metric = {metric!r}: choose one of {', '.join(METRICS)} (all minimised)."
        )

    base_table = raw.get("base", {})
    if not isinstance(base_table, dict):
        raise ConfigError(f"{spec_path}: [base] must be a table of config overrides.")
    base: dict[str, Any] = {}
    for dotted, value in _flatten(base_table):
        _check_field(dotted, "[base]")
        base[dotted] = (
            _resolve_data_path(value, spec_path.parent) if dotted == "data.path" else value
        )

    params_table = raw.get("parameters", {})
    if not isinstance(params_table, dict) or not params_table:
        raise ConfigError(
            f"{spec_path}: the spec has no [parameters]. Add at least one swept field, e.g.\n"
            '[parameters]\n"optim.lr" = [1e-3, 3e-3]'
        )
    parameters = tuple(
        _parse_parameter(dotted, value, method) for dotted, value in _flatten(params_table)
    )
    return SweepSpec(
        path=spec_path,
        name=name,
        out_dir=out_dir,
        method=method,
        trials=trials,
        seed=seed,
        preset=preset,
        metric=metric,
        base=base,
        parameters=parameters,
    )


# ---------------------------------------------------------------------------------------------
# Trials: which values, which id, which config.


@dataclass(frozen=True)
class TrialPlan:
    """One planned trial: its position, folder name and values."""

    index: int
    trial_id: str
    params: dict[str, Any]


def format_value(value: Any) -> str:
    """A short, stable text for a parameter value (ids, tables, plot labels)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_id(index: int, params: dict[str, Any]) -> str:
    """Folder-safe, stable id such as t03_optim.lr=0.001_model.n_embd=64."""
    parts = [f"t{index:02d}"] + [f"{k}={format_value(v)}" for k, v in params.items()]
    text = _ID_UNSAFE.sub("-", "_".join(parts))
    # No ".." anywhere, so an id can never name a parent folder.
    while ".." in text:
        text = text.replace("..", ".")
    if len(text) > _MAX_ID_CHARS:
        digest = hashlib.sha256(_canonical(params).encode()).hexdigest()[:8]
        text = f"{text[: _MAX_ID_CHARS - 9]}-{digest}"
    return text


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def trial_fingerprint(spec: SweepSpec, params: dict[str, Any]) -> str:
    """Hash of everything that decides a trial's config: preset, base and the trial's values."""
    blob = _canonical({"preset": spec.preset, "base": spec.base, "params": params})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _draw(param: Parameter, rng: random.Random) -> Any:
    if param.values is not None:
        return rng.choice(param.values)
    assert param.low is not None and param.high is not None
    if param.log:
        value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    else:
        value = rng.uniform(param.low, param.high)
    if param.is_int:
        return int(min(param.high, max(param.low, round(value))))
    return min(param.high, max(param.low, value))


def plan_trials(spec: SweepSpec) -> list[TrialPlan]:
    """The trials of a grid or random sweep, in order (optuna chooses its trials as it goes).

    Grid: the cartesian product, the last parameter varying fastest. Random: `trials` draws,
    trial i from a generator seeded by (seed, i), so a longer sweep starts with the same trials;
    a repeated combination is drawn again (the spec may allow fewer distinct ones).
    """
    if spec.method == "optuna":
        raise ConfigError(
            "An optuna sweep chooses each trial from the results so far, so it has no plan to "
            "list in advance; run it, or use method = grid or random to see the trials first."
        )
    names = [p.name for p in spec.parameters]
    if spec.method == "grid":
        combos = itertools.product(*(p.values or () for p in spec.parameters))
        params_list = [dict(zip(names, combo, strict=True)) for combo in combos]
    else:
        params_list = []
        seen: set[str] = set()
        for index in range(spec.trials):
            rng = random.Random(f"gptlab-sweep:{spec.seed}:{index}")
            for _ in range(_RANDOM_ATTEMPTS_PER_TRIAL):
                params = {p.name: _draw(p, rng) for p in spec.parameters}
                if _canonical(params) not in seen:
                    break
            else:
                break  # every combination is taken: the sweep has fewer distinct trials
            seen.add(_canonical(params))
            params_list.append(params)
    return [TrialPlan(i, trial_id(i, p), p) for i, p in enumerate(params_list)]


def trial_config(spec: SweepSpec, params: dict[str, Any], run_dir: Path) -> Config:
    """The validated config of one trial: preset -> base -> params, written to run_dir."""
    flat = dict(spec.base)
    for name, value in params.items():
        flat[name] = _resolve_data_path(value, spec.path.parent) if name == "data.path" else value
    flat["run.out_dir"] = str(run_dir)
    return config_from_dict(_nest(flat), preset_config(spec.preset))


def trial_dir(spec: SweepSpec, tid: str) -> Path:
    """The run folder of a trial, checked to lie inside <out>/trials."""
    root = spec.trials_dir.resolve()
    path = (root / tid).resolve()
    if path.parent != root or not _SAFE_ID.match(tid) or ".." in tid:
        raise ConfigError(
            f"Trial id {tid!r} would write outside {root}: trial folders are always "
            "<out>/trials/<id>. Rename the parameter values."
        )
    return path


# ---------------------------------------------------------------------------------------------
# Sweep state (sweep.json).


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
    """val_loss, val_ppl, val_acc, train_loss, gap, best_val_loss, steps, tokens, wall_s ..."""
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
                "updated": _now(),
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
        created=str(data.get("created", _now())),
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


# ---------------------------------------------------------------------------------------------
# Results of a finished run folder.


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of <run_dir>/metrics.jsonl; a torn last line (a killed run) is skipped."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(*JSON_ERRORS):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def run_results(run_dir: Path) -> dict[str, Any]:
    """Final figures of a run from its metrics.jsonl (empty when it has no eval record).

    Data without a val split is normal for tiny corpora: its evaluations measure the train
    split only, and the figures then hold train_* values and no val_* ones.
    """
    records = read_metrics(run_dir)
    evals = [
        r
        for r in records
        if r.get("kind") == "eval"
        and (r.get("val_loss") is not None or r.get("train_loss") is not None)
    ]
    if not evals:
        return {}
    last = evals[-1]
    end = next((r for r in reversed(records) if r.get("kind") == "end"), None)
    tail = end or records[-1]
    results: dict[str, Any] = {
        key: last.get(key)
        for key in ("val_loss", "val_ppl", "val_acc", "train_loss", "train_ppl", "train_acc")
    }
    with_val = [r for r in evals if r.get("val_loss") is not None]
    if with_val:
        best = min(with_val, key=lambda r: float(r["val_loss"]))
        if last.get("train_loss") is not None and last.get("val_loss") is not None:
            results["gap"] = float(last["val_loss"]) - float(last["train_loss"])
        results["best_val_loss"] = float(best["val_loss"])
        results["best_val_step"] = best.get("step")
    results["steps"] = tail.get("step")
    results["tokens"] = tail.get("tokens")
    results["elapsed_s"] = tail.get("elapsed_s")
    results["end_reason"] = end.get("reason") if end else None
    return results


# ---------------------------------------------------------------------------------------------
# Running.


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the sweep during a trial; the state was saved first."""

    def __init__(self, exit_code: int, trial: str) -> None:
        self.exit_code = exit_code
        super().__init__(
            f"Sweep stopped during trial {trial}; its state is saved and the next run of the "
            "same spec resumes it from its latest checkpoint."
        )


@dataclass(frozen=True)
class SweepResult:
    """What a call of run_sweep did."""

    out_dir: Path
    trials: list[TrialRecord]
    """Trials of the current spec, in order."""
    ran: int
    """Trials trained (fully or in part) by this call."""
    reconciliation: Reconciliation
    summary: Summary | None


def _best(records: list[TrialRecord], metric: str) -> TrialRecord | None:
    done = [t for t in records if t.metric(metric) is not None]
    return min(done, key=lambda t: t.metric(metric) or 0.0) if done else None


def _run_one(
    spec: SweepSpec,
    record: TrialRecord,
    state: SweepState,
    train_progress: bool,
    command_line: list[str] | None,
    log: Log,
) -> None:
    """Build, train and record one trial; a user error or a crash marks it failed."""
    run_dir = trial_dir(spec, record.trial_id)
    try:
        cfg = trial_config(spec, record.params, run_dir)
    except GptlabError as exc:
        record.status, record.error = "failed", f"invalid config: {exc}"
        record.finished = _now()
        state.save(spec.state_path)
        return
    from gptlab.train.checkpoint import latest_valid_checkpoint

    found = latest_valid_checkpoint(run_dir) if run_dir.is_dir() else None
    checkpoint = found[0] if found else None
    resume = record.status == "running" and checkpoint is not None
    if not resume and run_dir.exists():
        # A run folder without a usable checkpoint is the debris of an earlier attempt.
        shutil.rmtree(run_dir)
    if resume:
        log(f"  resuming from {checkpoint.name if checkpoint else ''}")
    record.status, record.error, record.results = "running", None, {}
    record.attempts += 1
    record.started, record.finished = _now(), None
    state.save(spec.state_path)
    from gptlab.train.loop import TrainingInterrupted, train

    start = time.perf_counter()
    try:
        train(
            cfg,
            resume=resume,
            command_line=command_line,
            progress=train_progress,
            quiet=not train_progress,
        )
    except KeyboardInterrupt as exc:
        state.save(spec.state_path)  # still "running": the next call resumes it
        raise SweepInterrupted(130, record.trial_id) from exc
    except TrainingInterrupted as exc:
        state.save(spec.state_path)
        raise SweepInterrupted(exc.exit_code, record.trial_id) from exc
    except GptlabError as exc:
        record.status, record.error = "failed", str(exc)
    except Exception as exc:  # a bug in one trial must not cost the rest of the sweep
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
        detail = "".join(traceback.format_exception(exc))
        atomic_write_text(run_dir / "sweep_error.txt", detail)
    else:
        results = run_results(run_dir)
        if not results:
            record.status = "failed"
            record.error = f"training ended without an evaluation in {run_dir / 'metrics.jsonl'}"
        else:
            record.status, record.results = "done", results
    record.results["wall_s"] = round(time.perf_counter() - start, 3)
    record.finished = _now()
    state.save(spec.state_path)


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    retry_failed: bool = False,
    max_trials: int | None = None,
    train_progress: bool = False,
    command_line: list[str] | None = None,
    log: Log | None = None,
    summarize: bool = True,
) -> SweepResult:
    """Run (or resume) every trial of a spec, then write the summary.

    `retry_failed` re-runs trials recorded as failed; `max_trials` caps how many trials this call
    trains (None: all); `train_progress` shows each run's progress bar; `log` receives one line
    per event (default: stderr). Ctrl-C or SIGTERM during a trial saves the state and raises
    SweepInterrupted (the trial stays "running" and resumes next time).
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    emit = log or _stderr_log
    if max_trials is not None and max_trials < 0:
        raise ConfigError(f"max_trials={max_trials}: give 0 or more (None runs every trial).")
    from gptlab.train.checkpoint import acquire_lock, release_lock

    # One sweep per folder: a second one would delete the trial folder the first trains in.
    lock = acquire_lock(spec.out_dir, "Sweep folder")
    try:
        return _run_sweep_locked(
            spec, retry_failed, max_trials, train_progress, command_line, emit, summarize
        )
    finally:
        release_lock(lock)


def _run_sweep_locked(
    spec: SweepSpec,
    retry_failed: bool,
    max_trials: int | None,
    train_progress: bool,
    command_line: list[str] | None,
    emit: Log,
    summarize: bool,
) -> SweepResult:
    if spec.state_path.exists():
        state = load_state(spec.out_dir)
    else:
        state = SweepState(spec.name, str(spec.path), spec.method, spec.metric, _now(), [])
    state.spec_path, state.method, state.metric = str(spec.path), spec.method, spec.metric

    if spec.method == "optuna":
        _import_optuna()  # fail before any state is written
        records, rec = _optuna_records(spec, state)
    else:
        records, rec = reconcile(spec, state, plan_trials(spec))
    if rec.kept and (rec.new or rec.retired):
        emit(
            f"The spec changed: {rec.kept} recorded trials still match and are kept, "
            f"{rec.new} are new, {rec.retired} recorded trials no longer match (set aside in "
            "sweep.json; their folders are untouched)."
        )
    elif rec.retired:
        emit(f"{rec.retired} recorded trials no longer match the spec: set aside, folders kept.")
    state.save(spec.state_path)

    ran = 0
    limit = math.inf if max_trials is None else max_trials
    try:
        if spec.method == "optuna":
            ran = _run_optuna(
                spec, state, records, retry_failed, limit, train_progress, command_line, emit
            )
        else:
            total = len(records)
            for n, record in enumerate(records, start=1):
                if record.status == "done" or (record.status == "failed" and not retry_failed):
                    continue
                if ran >= limit:
                    break
                ran += 1
                _announce(n, total, record, emit)
                _run_one(spec, record, state, train_progress, command_line, emit)
                _report_trial(n, total, record, records, spec.metric, emit)
    except SweepInterrupted:
        emit(f"Interrupted: state saved to {spec.state_path}; run the same command to resume.")
        raise
    records = state.current
    summary = write_summary(spec, state, log=emit) if summarize else None
    return SweepResult(spec.out_dir, records, ran, rec, summary)


def _announce(n: int, total: int, record: TrialRecord, emit: Log) -> None:
    again = " (resumed)" if record.status == "running" else ""
    emit(f"[{n}/{total}] {record.trial_id}: starting{again} ...")


def _report_trial(
    n: int, total: int, record: TrialRecord, records: list[TrialRecord], metric: str, emit: Log
) -> None:
    best = _best(records, metric)
    best_text = (
        f"best so far {metric} {best.metric(metric):.4f} ({best.trial_id})"
        if best
        else "no best yet"
    )
    value = record.metric(metric)
    if record.status == "done" and value is not None:
        outcome = f"{metric} {value:.4f}"
    elif record.status == "done":
        outcome = f"done, but it has no {metric} (data without a val split: rank by train_loss)"
    else:
        outcome = f"FAILED: {record.error}"
    wall = record.results.get("wall_s")
    wall_text = f" in {wall:.1f}s" if isinstance(wall, int | float) else ""
    emit(f"[{n}/{total}] {record.trial_id}: {outcome}{wall_text}; {best_text}")


# ---------------------------------------------------------------------------------------------
# Optuna: the same trial folders and state, trials chosen by TPE one at a time.


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            f"method = optuna needs the optuna package, which is not installed: run "
            f"{OPTUNA_INSTALL_HINT} (or use method = random)."
        ) from exc
    return optuna


def _optuna_distributions(spec: SweepSpec, optuna: Any) -> dict[str, Any]:
    dists: dict[str, Any] = {}
    for p in spec.parameters:
        if p.values is not None:
            dists[p.name] = optuna.distributions.CategoricalDistribution(list(p.values))
        elif p.is_int:
            dists[p.name] = optuna.distributions.IntDistribution(
                int(p.low or 0), int(p.high or 0), log=p.log
            )
        else:
            dists[p.name] = optuna.distributions.FloatDistribution(
                p.low or 0.0, p.high or 0.0, log=p.log
            )
    return dists


def _optuna_records(spec: SweepSpec, state: SweepState) -> tuple[list[TrialRecord], Reconciliation]:
    """Recorded trials that still fit the spec stay (in their order); the rest are set aside."""
    kept, retired = [], 0
    for record in state.trials:
        fits = record.fingerprint == trial_fingerprint(spec, record.params) and set(
            record.params
        ) == {p.name for p in spec.parameters}
        record.in_spec = fits
        if fits:
            kept.append(record)
        else:
            retired += 1
    kept.sort(key=lambda t: t.index)
    for n, record in enumerate(kept):
        record.index = n
    return kept, Reconciliation(len(kept), 0, retired)


def _run_optuna(
    spec: SweepSpec,
    state: SweepState,
    records: list[TrialRecord],
    retry_failed: bool,
    limit: float,
    train_progress: bool,
    command_line: list[str] | None,
    emit: Log,
) -> int:
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _optuna_distributions(spec, optuna)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=spec.seed)
    )
    ran = 0
    total = max(spec.trials, len(records))

    def tell(record: TrialRecord) -> None:
        value = record.metric(spec.metric)
        study.add_trial(
            optuna.trial.create_trial(
                params=record.params,
                distributions=dists,
                value=value,
                state=optuna.trial.TrialState.COMPLETE
                if value is not None
                else optuna.trial.TrialState.FAIL,
            )
        )

    pending: list[TrialRecord] = []
    for record in records:
        if record.status == "done" or (record.status == "failed" and not retry_failed):
            tell(record)
        else:
            pending.append(record)
    for record in pending:  # interrupted or retried trials keep their values
        if ran >= limit:
            return ran
        ran += 1
        _announce(record.index + 1, total, record, emit)
        _run_one(spec, record, state, train_progress, command_line, emit)
        _report_trial(record.index + 1, total, record, records, spec.metric, emit)
        tell(record)
    while len(records) < spec.trials and ran < limit:
        asked = study.ask(fixed_distributions=dists)
        params = {p.name: asked.params[p.name] for p in spec.parameters}
        index = len(records)
        taken = {t.trial_id for t in state.trials}
        tid = trial_id(index, params)
        suffix = 2
        while tid in taken:
            tid = f"{trial_id(index, params)}-v{suffix}"
            suffix += 1
        record = TrialRecord(tid, index, params, trial_fingerprint(spec, params))
        records.append(record)
        state.trials.append(record)
        ran += 1
        _announce(index + 1, total, record, emit)
        _run_one(spec, record, state, train_progress, command_line, emit)
        _report_trial(index + 1, total, record, records, spec.metric, emit)
        value = record.metric(spec.metric)
        if value is None:
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(asked, value)
    return ran


# ---------------------------------------------------------------------------------------------
# Summary: ranking, per-parameter effects, files.


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
        distinct = {_canonical(v) for v, _ in points}
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


@dataclass(frozen=True)
class Summary:
    """Where the summary files were written and the numbers in them."""

    out_dir: Path
    ranked: list[TrialRecord]
    """Done trials by metric (lowest first), then pending/running, then failed."""
    effects: list[ParameterEffect]
    files: list[Path]
    compare_page: Path | None
    compare_note: str


_COLUMNS = (
    ("val_loss", "val loss"),
    ("val_ppl", "val ppl"),
    ("val_acc", "val acc"),
    ("train_loss", "train loss"),
    ("gap", "gap"),
    ("best_val_loss", "best val"),
    ("steps", "steps"),
    ("wall_s", "wall s"),
)


def rank_trials(records: list[TrialRecord], metric: str) -> list[TrialRecord]:
    """Done trials by metric (lowest first), then unfinished ones, then failed ones."""
    done = sorted(
        (t for t in records if t.metric(metric) is not None),
        key=lambda t: t.metric(metric) or 0.0,
    )
    unfinished = [t for t in records if t.status in ("pending", "running")]
    failed = [t for t in records if t.status == "failed" or (t.status == "done" and t not in done)]
    return done + unfinished + failed


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _table_rows(spec: SweepSpec, ranked: list[TrialRecord]) -> tuple[list[str], list[list[str]]]:
    names = [p.name for p in spec.parameters]
    header = ["rank", "trial", *names, *(label for _, label in _COLUMNS), "status", "error"]
    rows = []
    for n, t in enumerate(ranked, start=1):
        rank = str(n) if t.metric(spec.metric) is not None else ""
        row = [rank, t.trial_id, *(format_value(t.params.get(k, "")) for k in names)]
        row += [_cell(t.results.get(key)) for key, _ in _COLUMNS]
        row += [t.status, (t.error or "").replace("\n", " ")]
        rows.append(row)
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _effect_rows(effect: ParameterEffect) -> tuple[list[str], list[list[str]]]:
    header = [effect.name, "trials", "mean", "best"]
    rows = [[v.label, str(v.trials), f"{v.mean:.4f}", f"{v.best:.4f}"] for v in effect.values]
    return header, rows


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _effect_plot(effect: ParameterEffect, metric: str) -> bytes:
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
    return _png(fig)


def _curves_plot(spec: SweepSpec, ranked: list[TrialRecord]) -> bytes | None:
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
    return _png(fig)


def _try_compare(spec: SweepSpec, ranked: list[TrialRecord]) -> tuple[Path | None, str]:
    done = [spec.trials_dir / t.trial_id for t in ranked if t.status == "done"]
    if not done:
        return None, "no finished trials to compare"
    try:
        from gptlab.report import compare_runs
    except ImportError:
        return None, "the compare page needs gptlab.report.compare_runs, not available here"
    out = spec.out_dir / "compare"
    try:
        result = compare_runs(done, out)
    except GptlabError as exc:
        return None, f"compare page not written: {exc}"
    pages = [p for p in result.paths if p.suffix == ".html"]
    if not pages:
        return None, f"compare_runs wrote no HTML page in {out}"
    return pages[0], f"compare page: {pages[0]}"


def write_summary(spec: SweepSpec, state: SweepState, *, log: Log | None = None) -> Summary:
    """Write summary.md, summary.csv, summary.html and the plots into the sweep folder."""
    emit = log or _stderr_log
    records = state.current
    ranked = rank_trials(records, spec.metric)
    points = {
        p.name: [
            (t.params[p.name], t.metric(spec.metric) or 0.0)
            for t in records
            if t.metric(spec.metric) is not None and p.name in t.params
        ]
        for p in spec.parameters
    }
    effects = parameter_effects(points, frozenset(p.name for p in spec.parameters if p.log))
    out = spec.out_dir
    files: list[Path] = []

    header, rows = _table_rows(spec, ranked)
    csv_buffer = io.StringIO()
    writer = csv.writer(csv_buffer)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(out / "summary.csv", csv_buffer.getvalue())
    files.append(out / "summary.csv")

    plots: dict[str, bytes] = {}
    with plain_text():
        for effect in effects:
            safe = _ID_UNSAFE.sub("-", effect.name)
            plots[f"effect_{safe}.png"] = _effect_plot(effect, spec.metric)
        curves = _curves_plot(spec, ranked)
    if curves is not None:
        plots["curves.png"] = curves
    for name, data in plots.items():
        atomic_write_bytes(out / name, data)
        files.append(out / name)

    compare_page, compare_note = _try_compare(spec, ranked)
    counts = {s: sum(t.status == s for t in records) for s in STATUSES}
    status_line = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    ranking_lines = [
        f"{i}. {e.name}: spread {e.spread:.4f} (mean {spec.metric} by value: "
        + ", ".join(f"{v.label} -> {v.mean:.4f}" for v in e.values)
        + ")"
        for i, e in enumerate(effects, start=1)
    ]

    md = [f"# Sweep {spec.name}", ""]
    md.append(
        f"Spec `{spec.path}`, method {spec.method}, preset {spec.preset}, metric "
        f"`{spec.metric}` (lower is better). Trials: {len(records)} ({status_line})."
    )
    md += ["", "## Trials, best first", "", _markdown_table(header, rows), ""]
    md += ["## Which parameter mattered (spread of the mean metric across values)", ""]
    md += ranking_lines or ["No finished trials yet."]
    for effect in effects:
        md += ["", f"### {effect.name}", "", _markdown_table(*_effect_rows(effect)), ""]
        md.append(f"![{effect.name}](effect_{_ID_UNSAFE.sub('-', effect.name)}.png)")
    if curves is not None:
        md += ["", "## Curves", "", "![curves](curves.png)"]
    md += ["", f"Compare: {compare_note}.", ""]
    atomic_write_text(out / "summary.md", "\n".join(md))
    files.append(out / "summary.md")

    atomic_write_text(
        out / "summary.html",
        _summary_html(
            spec,
            status_line,
            header,
            rows,
            effects,
            plots,
            ranking_lines,
            compare_page,
            compare_note,
        ),
    )
    files.append(out / "summary.html")
    emit(f"Summary written to {out / 'summary.md'} (and .csv, .html, plots); {compare_note}.")
    return Summary(out, ranked, effects, files, compare_page, compare_note)


def _html_table(header: list[str], rows: list[list[str]], failed_col: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        css = ' class="failed"' if failed_col is not None and row[failed_col] == "failed" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _summary_html(
    spec: SweepSpec,
    status_line: str,
    header: list[str],
    rows: list[list[str]],
    effects: list[ParameterEffect],
    plots: dict[str, bytes],
    ranking_lines: list[str],
    compare_page: Path | None,
    compare_note: str,
) -> str:
    def img(name: str) -> str:
        data = base64.b64encode(plots[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep {html.escape(spec.name)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}",
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}",
        "th{background:#f0f0f0} tr.failed{color:#a00} img{max-width:100%}",
        "</style></head><body>",
        f"<h1>Sweep {html.escape(spec.name)}</h1>",
        f"<p>Spec <code>{html.escape(str(spec.path))}</code>, method {html.escape(spec.method)}, "
        f"preset {html.escape(spec.preset)}, metric <code>{html.escape(spec.metric)}</code> "
        f"(lower is better). Trials: {html.escape(status_line or 'none')}.</p>",
        "<h2>Trials, best first</h2>",
        _html_table(header, rows, failed_col=header.index("status")),
        "<h2>Which parameter mattered</h2><ol>",
        *(f"<li>{html.escape(line.split('. ', 1)[1])}</li>" for line in ranking_lines),
        "</ol>",
    ]
    for effect in effects:
        parts.append(f"<h3>{html.escape(effect.name)}</h3>")
        parts.append(_html_table(*_effect_rows(effect)))
        parts.append(img(f"effect_{_ID_UNSAFE.sub('-', effect.name)}.png"))
    if "curves.png" in plots:
        parts += ["<h2>Curves and generalization gap</h2>", img("curves.png")]
    if compare_page is not None and compare_page.is_file():
        link = compare_page.relative_to(spec.out_dir).as_posix()
        parts.append(f'<p><a href="{html.escape(link)}">Compare page of all finished runs</a></p>')
    else:
        parts.append(f"<p>{html.escape(compare_note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summarize_sweep(spec: SweepSpec | str | Path, *, log: Log | None = None) -> Summary:
    """Rebuild the summary of a sweep from its sweep.json (no training)."""
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    state = load_state(spec.out_dir)
    if spec.method == "optuna":
        _optuna_records(spec, state)
    else:
        reconcile(spec, state, plan_trials(spec))
    return write_summary(spec, state, log=log)
