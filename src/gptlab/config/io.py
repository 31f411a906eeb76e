"""Config files and conversions: TOML load and save, `--set` overrides, dict round trips with
type checks, hashes and diffs, and the list of settable fields with their docs.

TOML is the only file format (no exec, no globals). Paths in a config file are relative to the
file; a saved config holds absolute ones, so it works from any working directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from gptlab.config.schema import SECTIONS, Config, _fail
from gptlab.errors import ConfigError
from gptlab.fileio import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# ---------------------------------------------------------------------------------------------
# Dict / TOML conversion with type checks.


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Check and convert one value to the declared field type, or raise a ConfigError."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        kind = args[0]
        origin = typing.get_origin(kind)
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            _fail(name, value, 'expected a list of strings, e.g. ["a", "b"].')
        for text in value:
            require_utf8(name, text)
        return tuple(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        _fail(name, value, "expected true or false.")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(name, value, "expected a whole number.")
        if isinstance(value, float) and not value.is_integer():
            _fail(name, value, "expected a whole number.")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(name, value, "expected a number.")
        if not math.isfinite(value):
            _fail(name, value, "expected a finite number (not nan or inf).")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            _fail(name, value, "expected a string.")
        require_utf8(name, value)
        return value
    raise TypeError(f"unsupported config field type {kind!r} for {name}")


def require_utf8(name: str, text: str) -> None:
    """Refuse text holding bytes that are not UTF-8 (Python keeps them from argv as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _fail(name, text, "it is not valid UTF-8 text: retype it, or fix the terminal's encoding.")


def _build_section(section: str, values: dict[str, Any]) -> Any:
    cls = SECTIONS[section]
    kinds = _field_types(cls)
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ConfigError(
            f"Unknown field {section}.{unknown[0]}. Valid fields of [{section}]: "
            f"{', '.join(kinds)}."
        )
    return cls(**{k: _coerce(f"{section}.{k}", v, kinds[k]) for k, v in values.items()})


def config_from_dict(data: dict[str, Any], base: Config | None = None) -> Config:
    """Build a Config from nested dicts, on top of `base` (defaults when None)."""
    if not isinstance(data, dict):
        raise ConfigError("A config must be a table of sections: [data], [model], ...")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"Unknown config section [{unknown[0]}]. Valid sections: {', '.join(SECTIONS)}."
        )
    base = base or Config()
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        current = dataclasses.asdict(getattr(base, section))
        given = data.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"[{section}] must be a table of fields, got {given!r}.")
        current.update(given)
        sections[section] = _build_section(section, current)
    return Config(**sections)


def config_to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """Nested plain dict of a Config (tuples become lists, ready for TOML or JSON)."""
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        values = dataclasses.asdict(getattr(cfg, section))
        out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return out


def config_to_toml(cfg: Config) -> str:
    """The resolved config as TOML text."""
    return tomli_w.dumps(config_to_dict(cfg))


PATH_FIELDS: tuple[tuple[str, str], ...] = (
    ("data", "path"),
    ("run", "out_dir"),
    ("train", "hellaswag_path"),
    ("train", "lambada_path"),
)
"""Fields holding a filesystem path: relative to the file in a config file, to the working
directory in memory."""


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _with_paths(cfg: Config, convert: typing.Callable[[str], str]) -> Config:
    """A copy of cfg with every path field passed through `convert`."""
    for section, name in PATH_FIELDS:
        part = getattr(cfg, section)
        cfg = dataclasses.replace(
            cfg, **{section: dataclasses.replace(part, **{name: convert(getattr(part, name))})}
        )
    return cfg


def _path_from_file(text: str, config_dir: Path) -> str:
    """A path written in a config file (relative to that file) as the program uses it."""
    if not text:
        return text
    # normpath, not resolve(): a symlinked folder keeps the name the user gave it.
    full = os.path.normpath(os.path.join(os.path.abspath(config_dir), os.path.expanduser(text)))
    cwd = os.getcwd()
    return os.path.relpath(full, cwd) if _is_within(full, cwd) else full


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as TOML, atomically.

    Relative paths are written as absolute ones: a config file's paths are read relative to
    the file, and the folder it lands in is rarely the working directory.
    """
    atomic_write_text(path, config_to_toml(with_absolute_paths(cfg)))


def with_absolute_paths(cfg: Config) -> Config:
    """A copy of cfg whose relative paths are absolute (for every record saved with a run)."""
    return _with_paths(cfg, lambda p: os.path.normpath(os.path.abspath(p)) if p else p)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {p} does not exist (or is not a file): check the path.")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Config file {p} is not UTF-8 text ({exc.reason}): give a TOML text file "
            "(section tables such as [model] with field = value lines)."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"Cannot read config file {p}: {exc.strerror}. Check its permissions."
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {p} is not valid TOML: {exc}. Fix the syntax.") from exc


def load_config(path: str | Path, base: Config | None = None) -> Config:
    """Load a TOML config file on top of `base` (defaults when None).

    data.path and run.out_dir given in the file are relative to the file's folder (so a config
    works from any working directory); they come back relative to the working directory when
    they lie inside it, else absolute. Paths that come from `base` are left alone.
    """
    data = read_toml(path)
    config_dir = Path(path).parent
    for section, name in PATH_FIELDS:
        given = data.get(section)
        if isinstance(given, dict) and isinstance(given.get(name), str):
            given[name] = _path_from_file(given[name], config_dir)
    return config_from_dict(data, base)


def parse_override_value(text: str) -> Any:
    """Read an override value the way TOML would (numbers, booleans, lists), else as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply `section.field=value` overrides, each checked against the field's type."""
    changes: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ConfigError(
                f"Override {item!r} is not of the form section.field=value "
                "(for example optim.lr=3e-4)."
            )
        if section not in SECTIONS:
            raise ConfigError(
                f"Unknown config section {section!r} in {item!r}. "
                f"Valid sections: {', '.join(SECTIONS)}."
            )
        changes.setdefault(section, {})[name] = parse_override_value(raw.strip())
    return config_from_dict(changes, cfg)


def config_hash(section: Any) -> str:
    """Short stable hash of a config or one of its sections (used to match checkpoints)."""
    data = dataclasses.asdict(section)
    blob = json.dumps(data, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def diff_fields(a: Any, b: Any, prefix: str) -> list[str]:
    """Names of the fields that differ between two dataclasses of the same type."""
    return [
        f"{prefix}.{f.name} ({getattr(a, f.name)!r} vs {getattr(b, f.name)!r})"
        for f in dataclasses.fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    ]


# ---------------------------------------------------------------------------------------------
# The fields `--set` accepts, with their one-line docs (for `gptlab config --list`).


@dataclass(frozen=True)
class FieldInfo:
    """One settable field: its dotted name, type, value and documentation."""

    name: str
    """section.field, as --set takes it."""
    kind: str
    """int, float, bool, str or list[str]."""
    value: Any
    """The default, or the value in the config it was read from."""
    doc: str
    """The field's docstring, joined into one paragraph."""


def _field_docs(cls: type) -> dict[str, str]:
    """Docstrings under each field of a dataclass, read from its source (empty when unreadable)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _kind_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return "list[str]"
    return getattr(kind, "__name__", str(kind))


def list_fields(cfg: Config | None = None) -> list[FieldInfo]:
    """Every field of the config tree in section order, with the value it has in `cfg`."""
    cfg = cfg or Config()
    out = []
    for section, cls in SECTIONS.items():
        docs = _field_docs(cls)
        part = getattr(cfg, section)
        for name, kind in _field_types(cls).items():
            value = getattr(part, name)
            out.append(
                FieldInfo(
                    f"{section}.{name}",
                    _kind_name(kind),
                    list(value) if isinstance(value, tuple) else value,
                    docs.get(name, ""),
                )
            )
    return out
