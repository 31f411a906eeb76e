"""Checkpoints and run folders: save, list, verify, prune and load, in safetensors + JSON only.

A checkpoint is checkpoints/step_000123/ with model.safetensors, optimizer.safetensors and
state.json (step, tokens, loader position, RNG states, sha256 of both tensor files). The folder
is written under a temporary name and renamed into place, so a folder with the final name is
complete; a folder without state.json, or whose files do not match their sha256, is skipped.

Trade-off: every load re-hashes the tensor files (seconds for a 1.5B model) so that a truncated
or corrupted checkpoint is reported by name instead of silently resuming from garbage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from gptlab.config import (
    Config,
    config_from_dict,
    config_hash,
    config_to_dict,
    with_absolute_paths,
)
from gptlab.errors import CheckpointError, ConfigError
from gptlab.fileio import (
    atomic_directory,
    atomic_write_json,
    default_file_mode,
    fsync_file,
    open_no_follow,
    pid_alive,
    refuse_links,
    sha256_file,
    write_error_text,
)
from gptlab.jsonio import is_whole_number
from gptlab.train.optim import flatten_optimizer_state, unflatten_optimizer_state

if TYPE_CHECKING:
    from gptlab.model.gpt import GPT

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
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after `step` optimizer steps."""
    return f"step_{step:06d}"


def clean_key(key: str) -> str:
    """A state-dict key without torch.compile's and DDP's wrapper prefixes."""
    for prefix in _WRAPPER_PREFIXES:
        key = key.replace(prefix, "")
    return key


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside DDP and torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def model_tensors(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Clean-keyed CPU tensors with tied weights stored once, and the {dropped: kept} ties."""
    tensors: dict[str, torch.Tensor] = {}
    tied: dict[str, str] = {}
    seen: dict[tuple[int, int, tuple[int, ...]], str] = {}
    for raw_key, tensor in model.state_dict().items():
        key = clean_key(raw_key)
        identity = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if identity in seen:
            # safetensors refuses two names for one storage; keep the first, record the alias.
            tied[key] = seen[identity]
            continue
        seen[identity] = key
        tensors[key] = tensor.detach().cpu().contiguous()
    return tensors, tied


def _rng_state() -> dict[str, Any]:
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], np_state[1].tolist(), *map(_plain, np_state[2:])],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()]
        if torch.cuda.is_available()
        else [],
    }
    return state


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    *,
    config: Config | None = None,
    keep_last: int = 2,
    val_loss: float | None = None,
) -> Path:
    """Write checkpoints/step_{step:06d}/ atomically, update the best marker, prune old ones.

    `state` holds what the loop needs back (tokens, epoch, loader, lr, best_val_loss, ...); step,
    RNG states, config, hashes and the format version are added here. `val_loss`, when given,
    makes this checkpoint the best if it is lower than the current best.
    """
    checkpoints = Path(run_dir) / CHECKPOINTS_DIR
    name = checkpoint_name(step)
    tensors, tied = model_tensors(model)
    opt_tensors, opt_meta = flatten_optimizer_state(optimizer)
    try:
        _write_checkpoint(
            checkpoints / name, step, tensors, tied, opt_tensors, opt_meta, state, config, val_loss
        )
    except OSError as exc:
        # Nothing of this checkpoint is left (atomic_directory removed it); older ones are intact.
        raise CheckpointError(
            f"Could not save checkpoint {checkpoints / name}: {write_error_text(exc)}. The "
            f"previous checkpoints in {checkpoints} are intact. Free disk space (or raise the "
            f"file size or quota limit), then continue with `gptlab train --resume {run_dir}`."
        ) from exc
    try:
        if val_loss is not None:
            best = read_best(run_dir)
            if best is None or val_loss < float(best["val_loss"]):
                atomic_write_json(
                    checkpoints / BEST_FILE,
                    {"checkpoint": name, "step": step, "val_loss": val_loss},
                )
        prune_checkpoints(run_dir, keep_last)
    except OSError as exc:
        raise CheckpointError(
            f"Checkpoint {checkpoints / name} was saved, but updating {checkpoints} afterwards "
            f"failed: {write_error_text(exc)}. Free disk space, then continue with "
            f"`gptlab train --resume {run_dir}`."
        ) from exc
    return checkpoints / name


def _write_checkpoint(
    folder: Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    tied: dict[str, str],
    opt_tensors: dict[str, torch.Tensor],
    opt_meta: dict[str, str],
    state: dict[str, Any],
    config: Config | None,
    val_loss: float | None,
) -> None:
    with atomic_directory(folder, overwrite=True) as tmp:
        _save_tensors(tensors, tmp / MODEL_FILE, {TIED_KEY: json.dumps(tied)})
        _save_tensors(opt_tensors, tmp / OPTIMIZER_FILE, opt_meta)
        full_state = {
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "step": step,
            **state,
            "val_loss": val_loss,
            "rng": _rng_state(),
            "config_hash": config_hash(config) if config is not None else None,
            "config": config_to_dict(with_absolute_paths(config)) if config is not None else None,
            "sha256": {
                MODEL_FILE: sha256_file(tmp / MODEL_FILE),
                OPTIMIZER_FILE: sha256_file(tmp / OPTIMIZER_FILE),
            },
        }
        atomic_write_json(tmp / STATE_FILE, full_state)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """save_file, flushed to disk, with a plain file's mode; write failures become OSError."""
    try:
        save_file(tensors, str(path), metadata=metadata)
    except SafetensorError as exc:
        # safetensors reports a full disk as "... I/O error: ... (os error 28)".
        code = re.search(r"os error (\d+)", str(exc))
        if code is None:
            raise
        number = int(code.group(1))
        raise OSError(number, os.strerror(number), str(path)) from exc
    os.chmod(path, default_file_mode())
    fsync_file(path)


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


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` complete checkpoints, never the best one."""
    best = read_best(run_dir)
    best_name = best["checkpoint"] if best else None
    complete = list_checkpoints(run_dir)
    for path in complete[: max(0, len(complete) - keep_last)]:
        if path.name != best_name:
            _remove_folder(path)


def _remove_folder(path: Path) -> None:
    """Delete a checkpoint folder so that no half-deleted step_* folder is ever visible."""
    # The rename is atomic; a crash during rmtree leaves only a hidden trash folder.
    trash = path.with_name(f".{path.name}.trash-{os.getpid()}")
    try:
        os.replace(path, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


_TEMPORARY = re.compile(r"^\.step_\d+\.(tmp-|old-|trash-)")


def remove_stale_temporaries(run_dir: str | Path) -> list[str]:
    """Delete what a crashed save or prune left under checkpoints/; the names removed.

    Only call this while holding the run folder's lock: a live writer's temporary folders
    have the same names.
    """
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    removed = []
    for entry in root.iterdir():
        if _TEMPORARY.match(entry.name) or (
            entry.name.startswith(f".{BEST_FILE}.") and entry.name.endswith(".tmp")
        ):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return sorted(removed)


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


@dataclass
class LoadedRun:
    """A trained model ready for evaluation, generation or pictures."""

    model: GPT
    """The GPT in eval mode on the requested device."""
    config: Config
    tokenizer: Any
    """The run's gptlab.data.tokenizers.Tokenizer."""
    step: int
    checkpoint_dir: Path


_LOAD_ATTEMPTS = 5


def _choose_checkpoint(run: Path, checkpoint: str | None) -> tuple[Path, dict[str, Any]]:
    """The checkpoint folder to load and its checked state."""
    if checkpoint is None:
        # Like resume: the newest checkpoint whose files match, past corrupt ones (warned).
        found = latest_valid_checkpoint(run)
        if found is not None:
            return found
        folders = step_folders(run)
        if not folders:
            resolve_checkpoint(run)  # raises: the run has no checkpoint at all
        # Every one is damaged: the error names what is wrong with the newest.
        try:
            check_checkpoint(folders[-1])
        except CheckpointError as exc:
            raise CheckpointError(
                f"Every checkpoint of {run} is damaged ({len(folders)} found); the newest, "
                f"{folders[-1].name}: {exc}"
            ) from exc
        checkpoint_dir = folders[-1]  # pruned and rewritten meanwhile: check it once more
    else:
        checkpoint_dir = resolve_checkpoint(run, checkpoint)
    return checkpoint_dir, check_checkpoint(checkpoint_dir)


def _check_belongs_to(run: Path, checkpoint_dir: Path, config: Config) -> None:
    """Refuse a checkpoint of another run whose model or tokenizer differs from this run's:
    decoded with this run's tokenizer, its token ids would print the wrong text."""
    owner = checkpoint_dir.resolve().parent.parent
    if owner == run.resolve():
        return
    from gptlab.config import diff_fields, load_config

    fix = f"Give that checkpoint's own run folder ({owner}) as RUN, or a checkpoint of {run}."
    if (run / "config.toml").is_file():
        changed = diff_fields(load_config(run / "config.toml").model, config.model, "model")
        if changed:
            raise CheckpointError(
                f"{checkpoint_dir} belongs to another run whose model differs from {run}'s "
                f"({', '.join(changed[:3])}). {fix}"
            )
    if _tree_hash(owner / "tokenizer") != _tree_hash(run / "tokenizer"):
        raise CheckpointError(
            f"{checkpoint_dir} belongs to another run whose tokenizer differs from {run}'s, so "
            f"its token ids would be decoded wrongly. {fix}"
        )


def _tree_hash(folder: Path) -> str | None:
    """sha256 over the files of a folder (None when it is missing)."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_run(run_dir: str | Path, checkpoint: str | None = None, device: str = "cpu") -> LoadedRun:
    """Load a run's model (eval mode), config and tokenizer from one of its checkpoints.

    checkpoint: None = the latest complete one, "best", "step_000123", a step number or a path.
    Hashes are verified first; a mismatch or truncation is a CheckpointError naming the file.
    """
    from gptlab.data.tokenizers import load_tokenizer
    from gptlab.model.gpt import GPT

    run = Path(run_dir)
    if run.is_file():
        raise CheckpointError(
            f"{run} is a file, not a run folder: give the --out folder of a `gptlab train` run."
        )
    if not run.is_dir():
        raise CheckpointError(
            f"Run folder {run} does not exist: give the --out folder of a `gptlab train` run."
        )
    # A training run may prune the chosen checkpoint while we read it (keep_last_checkpoints):
    # then the latest (or best) is chosen again; a checkpoint asked for by name is not.
    follows_training = checkpoint in (None, "best")
    for attempt in range(_LOAD_ATTEMPTS):
        checkpoint_dir, state = _choose_checkpoint(run, checkpoint)
        try:
            config = checkpoint_config(state, checkpoint_dir)
            _check_belongs_to(run, checkpoint_dir, config)
            try:
                model = GPT(config.model)
            except ConfigError as exc:
                raise CheckpointError(
                    f"{checkpoint_dir}: the saved config is unusable ({exc})."
                ) from exc
            load_model_weights(model, checkpoint_dir)
            break
        except (CheckpointError, OSError):
            if follows_training and not checkpoint_dir.is_dir() and attempt + 1 < _LOAD_ATTEMPTS:
                continue
            raise
    model.to(device)
    model.eval()
    tokenizer_dir = run / "tokenizer"
    if not tokenizer_dir.is_dir():
        raise CheckpointError(
            f"{tokenizer_dir} is missing: the run folder is incomplete, so its token ids cannot "
            "be turned into text. Copy the dataset's tokenizer files there."
        )
    tokenizer = load_tokenizer(tokenizer_dir)
    return LoadedRun(model, config, tokenizer, int(state["step"]), checkpoint_dir)


# ---- run folder lock ---------------------------------------------------------------------------

LOCK_FILE = ".lock"
_HELD_LOCKS: dict[Path, int] = {}
"""Open descriptors of the locks this process holds: the flock lives as long as the descriptor."""


def _in_use(run_dir: Path, lock: Path, pid: int, what: str) -> ConfigError:
    owner = f"process {pid}" if pid > 0 else "another process"
    return ConfigError(
        f"{what} {run_dir} is in use by {owner} (see {lock}). Wait for it to finish or "
        "stop it, or choose another --out. If that process is not gptlab, delete the "
        "lock file."
    )


def _read_pid(fd: int) -> int:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text or "0")
    except (OSError, ValueError):
        return 0


def acquire_lock(run_dir: Path, what: str = "Run folder") -> Path:
    """Lock run_dir/.lock for this process (its PID inside); refuse while another one holds it.

    The lock is an flock on the file, which the kernel drops when its owner dies, so a lock
    left by a killed run is taken over. A PID written by hand (or by an older gptlab) that
    belongs to a live process is also respected. A folder holding a symbolic link is refused
    (UnsafeFolderError), so no write of the run can land outside it. On success, temporary
    folders a crashed save left under checkpoints/ are removed.
    """
    lock = run_dir / LOCK_FILE
    run_dir.mkdir(parents=True, exist_ok=True)
    refuse_links(run_dir)
    key = lock.resolve()
    if key in _HELD_LOCKS:
        raise _in_use(run_dir, lock, os.getpid(), what)
    for _ in range(5):
        fd = open_no_follow(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock(fd)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise _in_use(run_dir, lock, pid, what) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same_file = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:
            # The owner released (deleted) the file between our open and flock: try again.
            os.close(fd)
            continue
        pid = _read_pid(fd)
        if pid != os.getpid() and pid_alive(pid):
            # No flock, yet a live PID: written by hand or by an older gptlab, or a dead run's
            # PID taken by a new process. Refuse; the message says to delete the file if so.
            os.close(fd)
            raise _in_use(run_dir, lock, pid, what)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _HELD_LOCKS[key] = fd
        remove_stale_temporaries(run_dir)
        return lock
    raise ConfigError(f"Could not take the lock file {lock}: other processes keep changing it.")


def _flock(fd: int) -> None:
    """Take an exclusive non-blocking flock (BlockingIOError when held); PID only without fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows: the PID check alone guards the folder
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def release_lock(lock: Path) -> None:
    """Remove a lock this process holds (deleted before it is unlocked, so no one reuses it)."""
    fd = _HELD_LOCKS.pop(lock.resolve(), None)
    try:
        pid = _read_pid(fd) if fd is not None else int(lock.read_text().strip() or "0")
        if pid == os.getpid():
            lock.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass
    finally:
        if fd is not None:
            os.close(fd)
