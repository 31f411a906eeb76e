"""Reading checkpoints: the format's names, state.json checks, sha256 verification, listing
and choosing a folder, and loading weights, optimizer state and RNG states back.

A folder without state.json, or whose files do not match their sha256, is skipped when listing
and refused when loaded by name. Every load re-hashes the tensor files (seconds for a 1.5B model)
so that a truncated or corrupted checkpoint is reported by name instead of resumed from garbage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import re
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from gptlab.config import Config, config_from_dict
from gptlab.errors import CheckpointError
from gptlab.fileio import sha256_file
from gptlab.jsonio import is_whole_number
from gptlab.train.optim import unflatten_optimizer_state

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
BEST_FILE = "best.json"
"""checkpoints/best.json: {"checkpoint": "step_000123", "step": 123, "val_loss": float}."""
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
TIED_KEY = "gptlab_tied"
"""model.safetensors metadata: JSON {dropped name: kept name} for weights stored once."""
_STEP_DIR = re.compile(r"^step_(\d+)$")


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after `step` optimizer steps."""
    return f"step_{step:06d}"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside DDP and torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set python, numpy, torch (and CUDA when present) generators from a checkpoint."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in cuda])


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """The best-checkpoint marker, or None when there is none (or it is unreadable)."""
    path = Path(run_dir) / CHECKPOINTS_DIR / BEST_FILE
    try:
        best = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return best if isinstance(best, dict) and "checkpoint" in best else None


def list_checkpoints(run_dir: str | Path, *, verify: bool = False) -> list[Path]:
    """Complete checkpoint folders, oldest first; half-written ones are skipped with a warning.

    A folder counts when its name is step_N, it holds a readable state.json and both tensor
    files; with verify=True their sha256 must also match state.json.
    """
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for entry in root.iterdir():
        match = _STEP_DIR.match(entry.name)
        if not match or not entry.is_dir():
            continue
        try:
            check_checkpoint(entry, verify_hashes=verify)
        except CheckpointError as exc:
            log.warning("skipping checkpoint %s: %s", entry, exc)
            continue
        found.append((int(match.group(1)), entry))
    return [path for _, path in sorted(found)]


def step_folders(run_dir: str | Path) -> list[Path]:
    """Every step_N folder under checkpoints/, complete or not."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name) and p.is_dir())


def read_state(checkpoint_dir: Path) -> dict[str, Any]:
    """state.json of a checkpoint; CheckpointError naming the file when missing or unreadable."""
    path = checkpoint_dir / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(
            f"{path} is missing: the checkpoint was not completely written. Use another "
            "checkpoint (delete this folder)."
        ) from exc
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise CheckpointError(
            f"{path} is not readable JSON ({reason}): the checkpoint is corrupt. Use another "
            "checkpoint (delete this folder)."
        ) from exc
    if not isinstance(state, dict) or state.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is not a gptlab checkpoint state of format version "
            f"{CHECKPOINT_FORMAT_VERSION}. Use a checkpoint written by this gptlab version."
        )
    _check_state(state, path)
    return state


def _check_state(state: dict[str, Any], path: Path) -> None:
    """The fields a load or a resume reads, so a damaged state.json is one CheckpointError."""
    for key in ("step", "tokens"):
        value = state.get(key, 0)
        if not is_whole_number(value) or value < 0:
            _damaged_state(path, key, value, "a whole number of 0 or more")
    for key in ("sha256", "loader", "config"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            _damaged_state(path, key, state[key], "a table of fields")
    rng = state.get("rng")
    if rng is not None:
        _check_rng_state(rng, path)


def _check_rng_state(rng: object, path: Path) -> None:
    """Set scratch generators from the saved states: what the real restore would refuse."""
    if not isinstance(rng, dict):
        _damaged_state(path, "rng", rng, "a table of generator states")
    try:
        version, py_state, gauss = rng["python"]
        random.Random().setstate((version, tuple(py_state), gauss))
        name, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.RandomState().set_state((name, np.array(keys, np.uint32), pos, has_gauss, cached))
        torch.Generator().set_state(torch.tensor(rng["torch"], dtype=torch.uint8))
        cuda = rng.get("cuda") or []
        for device_state in cuda:
            torch.tensor(device_state, dtype=torch.uint8)
    except (KeyError, TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path} is damaged: its random generator states (rng) cannot be restored "
            f"({type(exc).__name__}: {str(exc)[:120]}). Use another checkpoint, or start a new "
            "run with --out."
        ) from exc


def _damaged_state(path: Path, field: str, value: object, expected: str) -> NoReturn:
    raise CheckpointError(
        f"{path} is damaged: {field} should be {expected} but is {value!r:.60}. Use another "
        "checkpoint (delete this folder), or start a new run with --out."
    )


def check_checkpoint(checkpoint_dir: Path, *, verify_hashes: bool = True) -> dict[str, Any]:
    """state.json after checking that both tensor files exist (and match their sha256)."""
    state = read_state(checkpoint_dir)
    hashes = state.get("sha256") or {}
    for name in (MODEL_FILE, OPTIMIZER_FILE):
        path = checkpoint_dir / name
        if not path.is_file():
            raise CheckpointError(
                f"{path} is missing: the checkpoint is incomplete. Use another checkpoint."
            )
        if verify_hashes and sha256_file(path) != hashes.get(name):
            raise CheckpointError(
                f"{path} does not match the sha256 recorded in {checkpoint_dir / STATE_FILE}: "
                "the file is truncated or corrupt. Use another checkpoint (for example the "
                "previous step_* folder) or start a new run."
            )
    return state


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        # One open for both: a file pruned by a training run after it is opened stays readable.
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        # safe_open reports a file that vanished (pruned meanwhile) as a RuntimeError
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: the checkpoint was removed.") from exc
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({exc}). Use another checkpoint."
        ) from exc


def load_model_weights(model: nn.Module, checkpoint_dir: Path) -> None:
    """Load model.safetensors into `model` (wrapped or not), restoring tied weights."""
    path = checkpoint_dir / MODEL_FILE
    tensors, metadata = _read_safetensors(path)
    tied = json.loads(metadata.get(TIED_KEY, "{}"))
    for alias, kept in tied.items():
        if kept in tensors:
            tensors[alias] = tensors[kept]
    target = unwrap_model(model)
    try:
        target.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path} does not fit this model ({str(exc).splitlines()[0]}): the checkpoint was "
            "written for another model shape. Use the run's own config.toml."
        ) from exc


def load_optimizer_state(optimizer: torch.optim.Optimizer, checkpoint_dir: Path) -> None:
    """Load optimizer.safetensors into `optimizer`."""
    path = checkpoint_dir / OPTIMIZER_FILE
    tensors, metadata = _read_safetensors(path)
    state_dict = unflatten_optimizer_state(tensors, metadata, str(path))
    try:
        optimizer.load_state_dict(state_dict)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path} does not fit this optimizer ({exc}): optim.name or the model changed "
            "since the checkpoint. Resume with the run's own config.toml."
        ) from exc


def resolve_checkpoint(run_dir: str | Path, checkpoint: str | None = None) -> Path:
    """Checkpoint folder for None (latest valid), "best", "step_000123", "123" or a path."""
    run = Path(run_dir)
    if checkpoint is None:
        complete = list_checkpoints(run)
        if complete:
            return complete[-1]
        raise CheckpointError(
            f"{run} has no complete checkpoint in {run / CHECKPOINTS_DIR}: train the run first "
            "(`gptlab train --out RUN`) or check the folder name."
        )
    if checkpoint == "best":
        best = read_best(run)
        if best is None:
            raise CheckpointError(
                f"{run} has no best checkpoint yet ({run / CHECKPOINTS_DIR / BEST_FILE} is "
                "missing): one is marked at the first evaluation. Use the latest checkpoint."
            )
        return run / CHECKPOINTS_DIR / str(best["checkpoint"])
    if checkpoint.isdigit():
        numbered = run / CHECKPOINTS_DIR / checkpoint_name(int(checkpoint))
        if numbered.is_dir():
            return numbered
    named = run / CHECKPOINTS_DIR / checkpoint
    if _STEP_DIR.match(checkpoint) and named.is_dir():
        return named
    path = Path(checkpoint)
    if path.is_dir():
        return path
    available = ", ".join(p.name for p in list_checkpoints(run)) or "none"
    asked = f"{checkpoint!r}" + (
        f" ({checkpoint_name(int(checkpoint))})" if checkpoint.isdigit() else ""
    )
    raise CheckpointError(
        f"Checkpoint {asked} was not found in {run / CHECKPOINTS_DIR} (available: "
        f"{available}). Give a step_N name, a step number, 'best' or a folder path."
    )


def latest_valid_checkpoint(run_dir: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint whose files match their sha256, and its state; None if none.

    Newer ones that fail the check are skipped with a warning (resume falls back past them).
    """
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, check_checkpoint(path)
        except CheckpointError as exc:
            log.warning("skipping checkpoint %s: %s", path, exc)
    return None


def checkpoint_config(state: dict[str, Any], checkpoint_dir: Path) -> Config:
    """The resolved Config saved with a checkpoint (falls back to the run's config.toml).

    Paths come from config.toml when the checkpoint holds relative ones (written by gptlab
    before paths were saved absolute): relative to an unknown working folder, they are not a
    path at all, while config.toml's are absolute or relative to the file.
    """
    from gptlab.config import PATH_FIELDS, load_config

    run_config = checkpoint_dir.parent.parent / "config.toml"
    saved = state.get("config")
    if isinstance(saved, dict):
        cfg = config_from_dict(saved)
        relative = [
            (section, name)
            for section, name in PATH_FIELDS
            if not os.path.isabs(getattr(getattr(cfg, section), name) or "/")
        ]
        if relative and run_config.is_file():
            from_file = load_config(run_config)
            for section, name in relative:
                value = getattr(getattr(from_file, section), name)
                cfg = dataclasses.replace(
                    cfg, **{section: dataclasses.replace(getattr(cfg, section), **{name: value})}
                )
        return cfg
    if run_config.is_file():
        return load_config(run_config)
    raise CheckpointError(
        f"{checkpoint_dir} has no saved config and no config.toml beside it: the run folder "
        "is incomplete. Use a complete run folder."
    )
