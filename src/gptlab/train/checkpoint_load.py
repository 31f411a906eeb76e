"""Load a trained run (model in eval mode, config, tokenizer) from one of its checkpoints, for
evaluate, generate, viz and export.

A training run may prune the checkpoint being read; the latest or best one is then chosen
again (a few times), while a checkpoint asked for by name is not replaced by another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptlab.config import Config
from gptlab.errors import CheckpointError, ConfigError
from gptlab.train.checkpoint_read import (
    check_checkpoint,
    checkpoint_config,
    latest_valid_checkpoint,
    load_model_weights,
    resolve_checkpoint,
    step_folders,
)

if TYPE_CHECKING:
    from gptlab.model.gpt import GPT


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


_LOAD_ATTEMPTS = 50
"""Tries at the latest checkpoint while a training run prunes them: a run that saves every step
and keeps one can win several races in a row on a busy machine (each try is a few ms)."""


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
