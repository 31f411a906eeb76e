"""Checkpoints and run folders: save, prune and lock, in safetensors + JSON only.

A checkpoint is checkpoints/step_000123/ with model.safetensors, optimizer.safetensors and
state.json (step, tokens, loader position, RNG states, sha256 of both tensor files). The folder
is written under a temporary name and renamed into place, so a folder with the final name is
complete. Reading and verifying live in checkpoint_read.py, loading a whole run in
checkpoint_load.py; this module re-exports both, so `gptlab.train.checkpoint` is the one name
to import from.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import nn

from gptlab.config import Config, config_hash, config_to_dict, with_absolute_paths
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
from gptlab.train.checkpoint_load import LoadedRun, load_run
from gptlab.train.checkpoint_read import (
    BEST_FILE,
    CHECKPOINT_FORMAT_VERSION,
    CHECKPOINTS_DIR,
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
    TIED_KEY,
    check_checkpoint,
    checkpoint_config,
    checkpoint_name,
    latest_valid_checkpoint,
    list_checkpoints,
    load_model_weights,
    load_optimizer_state,
    read_best,
    read_state,
    resolve_checkpoint,
    restore_rng_state,
    step_folders,
    unwrap_model,
)
from gptlab.train.optim import flatten_optimizer_state

__all__ = [
    "BEST_FILE",
    "CHECKPOINTS_DIR",
    "CHECKPOINT_FORMAT_VERSION",
    "LOCK_FILE",
    "MODEL_FILE",
    "OPTIMIZER_FILE",
    "STATE_FILE",
    "TIED_KEY",
    "CheckpointError",
    "LoadedRun",
    "acquire_lock",
    "check_checkpoint",
    "checkpoint_config",
    "checkpoint_name",
    "clean_key",
    "latest_valid_checkpoint",
    "list_checkpoints",
    "load_model_weights",
    "load_optimizer_state",
    "load_run",
    "model_tensors",
    "prune_checkpoints",
    "read_best",
    "read_state",
    "release_lock",
    "remove_stale_temporaries",
    "resolve_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
    "step_folders",
    "unwrap_model",
]

_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def clean_key(key: str) -> str:
    """A state-dict key without torch.compile's and DDP's wrapper prefixes."""
    for prefix in _WRAPPER_PREFIXES:
        key = key.replace(prefix, "")
    return key


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
