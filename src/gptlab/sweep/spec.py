"""The sweep spec: parse and check the TOML file, plan the trials, build each trial's config.

The spec format and the whole sweep's behaviour are described in gptlab.sweep's docstring.
Trade-off: a trial's config is built by the same config_from_dict every run uses, so a spec can
set any field a run has and every check a run makes applies before a trial trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from gptlab.errors import ConfigError

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


OPTUNA_INSTALL_HINT = 'pip install "gptlab[sweep]"'

_SWEEP_KEYS = ("name", "out", "method", "trials", "seed", "preset", "metric")
_TOP_KEYS = ("sweep", "base", "parameters")
_RANGE_KEYS = ("min", "max", "log")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ID_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")
_MAX_ID_CHARS = 64
_RANDOM_ATTEMPTS_PER_TRIAL = 200

Log = Callable[[str], None]


def utc_now() -> str:
    """The time now, UTC, to the second, as sweep.json records it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def stderr_log(message: str) -> None:
    """The default log of a sweep: one line to stderr."""
    print(message, file=sys.stderr, flush=True)


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


def short_value(value: Any) -> str:
    """The shortest faithful text of a value for a folder name: 3e-3, 0.25, 64, true."""
    if isinstance(value, float):
        decimal = f"{value:.3g}"
        mantissa, _, exponent = f"{value:.2e}".partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        compact = f"{mantissa}e{int(exponent)}"
        return compact if len(compact) < len(decimal) else decimal
    return format_value(value)


def short_names(names: list[str]) -> dict[str, str]:
    """Each dotted field by its last part (lr, n_layer), unless two fields share that part."""
    last = [name.rsplit(".", 1)[-1] for name in names]
    return {
        name: part if last.count(part) == 1 else name
        for name, part in zip(names, last, strict=True)
    }


def trial_id(index: int, params: dict[str, Any]) -> str:
    """Folder-safe, short, stable id such as t03-lr=3e-3-n_layer=4 (full values in trial.json)."""
    names = short_names(list(params))
    parts = [f"t{index:02d}"] + [f"{names[k]}={short_value(v)}" for k, v in params.items()]
    text = ID_UNSAFE.sub("_", "-".join(parts))
    # No ".." anywhere, so an id can never name a parent folder.
    while ".." in text:
        text = text.replace("..", ".")
    if len(text) > _MAX_ID_CHARS:
        digest = hashlib.sha256(canonical(params).encode()).hexdigest()[:8]
        text = f"{text[: _MAX_ID_CHARS - 9]}-{digest}"
    return text


def canonical(obj: Any) -> str:
    """Stable JSON text of a value (fingerprints, duplicate checks)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def trial_fingerprint(spec: SweepSpec, params: dict[str, Any]) -> str:
    """Hash of everything that decides a trial's config: preset, base and the trial's values."""
    blob = canonical({"preset": spec.preset, "base": spec.base, "params": params})
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
                if canonical(params) not in seen:
                    break
            else:
                break  # every combination is taken: the sweep has fewer distinct trials
            seen.add(canonical(params))
            params_list.append(params)
    return [TrialPlan(i, trial_id(i, p), p) for i, p in enumerate(params_list)]


def trial_config(spec: SweepSpec, params: dict[str, Any], run_dir: Path) -> Config:
    """The validated config of one trial: preset -> base -> params, written to run_dir."""
    flat = dict(spec.base)
    for name, value in params.items():
        flat[name] = _resolve_data_path(value, spec.path.parent) if name == "data.path" else value
    flat["run.out_dir"] = str(run_dir)
    return config_from_dict(_nest(flat), preset_config(spec.preset))


def trial_adjustable(spec: SweepSpec, params: dict[str, Any]) -> frozenset[str]:
    """Recipe fields a trial leaves to training (warmup, intervals ... follow its horizon):
    those of train.plan.ADJUSTABLE_FIELDS that neither [base] nor the trial's values set."""
    from gptlab.train.plan import ADJUSTABLE_FIELDS

    return ADJUSTABLE_FIELDS - set(spec.base) - set(params)


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
