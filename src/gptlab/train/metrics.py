"""metrics.jsonl and samples.jsonl writers, optional TensorBoard/W&B, and the train log window.

Each record is one JSON line, flushed at once, so a crashed or interrupted run keeps every line
it wrote and `gptlab report` can read a run while it trains.

Trade-off: the eval records hold training-time estimates (a fixed number of micro batches,
train.eval_batches, not the whole split): cheap enough to run often, with sampling noise.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import IO, Any

from gptlab.errors import ConfigError
from gptlab.fileio import atomic_write_text, open_no_follow

TRAIN_KEYS = (
    "step",
    "tokens",
    "epoch",
    "loss",
    "lr",
    "grad_norm",
    "grad_norm_max",
    "tokens_per_s",
    "mfu",
    "memory_mb",
    "elapsed_s",
    "lr_by_step",
)
"""A train record summarises its log window, the steps since the previous record: loss and
grad_norm are means over the window, grad_norm_max its largest pre-clip norm, lr the last step's
and lr_by_step the learning rate of every step in it, oldest first (records before lr_by_step
and grad_norm_max existed hold the last step's lr and grad_norm)."""
EVAL_KEYS = (
    "step",
    "tokens",
    "epoch",
    "elapsed_s",
    "eval_batches",
    "val_loss",
    "val_ppl",
    "val_acc",
    "val_acc_top5",
    "train_loss",
    "train_ppl",
    "train_acc",
    "train_acc_top5",
    "hellaswag_acc",
    "hellaswag_acc_norm",
    "hellaswag_count",
    "lambada_acc",
    "lambada_ppl",
    "lambada_count",
    "param_norm",
    "grad_norm_by_group",
    "update_ratio_by_group",
)
"""An eval record: split metrics over eval_batches micro batches (train.eval_batches, or the
count chosen for it when 0); benchmark scores when a file is configured; param_norm (all
weights), grad_norm_by_group (the gradients of the step just taken, before clipping) and
update_ratio_by_group (||step update|| / ||weights||), each a dict keyed embeddings, block.0 ..
block.N-1, head. Keys without a value are null."""
END_KEYS = ("step", "tokens", "elapsed_s", "reason")


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (also inside a dict of values)."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


LOG_POINTS = 100
"""An automatic log interval gives about this many train records per run."""


def resolve_log_interval(log_interval_steps: int, total_steps: int) -> int:
    """train.log_interval_steps, or for 0 (auto) max(1, total_steps // LOG_POINTS)."""
    return log_interval_steps or max(1, total_steps // LOG_POINTS)


class LogWindow:
    """The steps since the last train record, summarised into the next one (see TRAIN_KEYS)."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.lrs: list[float] = []
        self.start_time = time.perf_counter()

    def __len__(self) -> int:
        return len(self.losses)

    def add(self, loss: float, grad_norm: float, lr: float) -> None:
        """One finished optimizer step."""
        self.losses.append(loss)
        self.grad_norms.append(grad_norm)
        self.lrs.append(lr)

    def summary(self) -> dict[str, Any]:
        """loss, grad_norm, grad_norm_max, lr and lr_by_step of the window's steps."""
        # fp16 skips steps whose gradient overflowed (norm inf): they carry no norm to average.
        finite = [g for g in self.grad_norms if math.isfinite(g)]
        return {
            "loss": sum(self.losses) / len(self.losses),
            "grad_norm": sum(finite) / len(finite) if finite else math.nan,
            "grad_norm_max": max(finite) if finite else math.nan,
            "lr": self.lrs[-1],
            "lr_by_step": list(self.lrs),
        }

    def reset(self, now: float) -> None:
        """Start the next window at time `now` (time.perf_counter())."""
        self.losses.clear()
        self.grad_norms.clear()
        self.lrs.clear()
        self.start_time = now


def _open_log(path: Path, *, append: bool) -> IO[str]:
    """A line-log file of the run folder, opened without following a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(open_no_follow(path, flags), "a" if append else "w", encoding="utf-8")


def _rewrite_log(handle: IO[str], path: Path, step: int, *, drop_end: bool) -> IO[str]:
    """Keep the records of `path` up to `step` (atomically); the reopened append handle."""
    handle.close()
    kept = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
                record_step = int(record.get("step") or 0)
            except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
                continue  # a line cut short by a crash, or not a record
            if drop_end and record.get("kind") == "end":
                continue
            if record_step <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(kept))
    return _open_log(path, append=True)


class MetricsWriter:
    """Appends train/eval/end records to metrics.jsonl (and TensorBoard/W&B when enabled)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        tensorboard: bool = False,
        wandb: bool = False,
        wandb_project: str = "gptlab",
        wandb_mode: str = "offline",
        run_config: dict[str, Any] | None = None,
        resume: bool = False,
    ) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.samples_path = run_dir / "samples.jsonl"
        self._file = _open_log(self.path, append=resume)
        self._samples = _open_log(self.samples_path, append=resume)
        self._tb: Any = None
        self._wandb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ConfigError(
                    "run.tensorboard=true needs the tensorboard package, which is not "
                    "installed: `pip install tensorboard` (or gptlab[tracking]), or turn it off."
                ) from exc
            self._tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        if wandb:
            try:
                import wandb as wandb_module
            except ImportError as exc:
                raise ConfigError(
                    "run.wandb=true needs the wandb package, which is not installed: "
                    "`pip install wandb` (or gptlab[tracking]), or turn it off."
                ) from exc
            self._wandb = wandb_module.init(
                project=wandb_project,
                mode=wandb_mode,
                dir=str(run_dir),
                name=run_dir.name,
                config=run_config,
                resume="allow" if resume else None,
            )

    def _write(self, kind: str, keys: tuple[str, ...], values: dict[str, Any]) -> None:
        record = {"kind": kind, **{k: _finite_or_none(values.get(k)) for k in keys}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        step = int(values.get("step", 0))
        numbers = {
            f"{kind}/{k}": v
            for k, v in record.items()
            if k not in ("kind", "step", "eval_batches") and isinstance(v, int | float)
        }
        if self._tb is not None:
            for name, value in numbers.items():
                self._tb.add_scalar(name, value, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(numbers, step=step)

    def train(self, **values: Any) -> None:
        """A {"kind": "train", ...} record (keys as in TRAIN_KEYS)."""
        self._write("train", TRAIN_KEYS, values)

    def eval(self, **values: Any) -> None:
        """A {"kind": "eval", ...} record (keys as in EVAL_KEYS)."""
        self._write("eval", EVAL_KEYS, values)

    def end(self, **values: Any) -> None:
        """The last {"kind": "end", "step", "tokens", "elapsed_s", "reason"} record."""
        self._write("end", END_KEYS, values)

    def truncate_after(self, step: int) -> None:
        """On resume: drop records newer than the checkpoint's step and the old end record.

        The kept lines are written to a new file that replaces the old one in one rename, so a
        kill at any moment leaves either the whole old history or the kept one, never less.
        """
        self._file = _rewrite_log(self._file, self.path, step, drop_end=True)
        self._samples = _rewrite_log(self._samples, self.samples_path, step, drop_end=False)

    def sample(self, step: int, tokens: int, prompt: str, text: str) -> None:
        """One samples.jsonl line."""
        record = {"step": step, "tokens": tokens, "prompt": prompt, "text": text}
        self._samples.write(json.dumps(record) + "\n")
        self._samples.flush()

    def close(self) -> None:
        """Close files and trackers."""
        self._file.close()
        self._samples.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
