"""metrics.jsonl and samples.jsonl writers, optional TensorBoard/W&B, and split evaluation.

Each record is one JSON line, flushed at once, so a crashed or interrupted run keeps every line
it wrote and `gptlab report` can read a run while it trains.

Trade-off: evaluation measures a fixed number of micro batches (train.eval_batches) rather than
the whole split, so it is cheap enough to run often but is an estimate with sampling noise.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from torch import nn

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
    "val_loss",
    "val_ppl",
    "val_acc",
    "val_acc_top5",
    "train_loss",
    "train_ppl",
    "train_acc",
    "train_acc_top5",
)
END_KEYS = ("step", "tokens", "elapsed_s", "reason")


@dataclass(frozen=True)
class SplitMetrics:
    """Loss and next-token accuracy over some batches of one split."""

    loss: float
    """Mean cross-entropy per target token, in nats."""
    ppl: float
    acc: float
    """Share of target tokens whose top-1 prediction is right."""
    acc_top5: float
    tokens: int


def perplexity(loss: float) -> float:
    """exp(loss), inf when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@torch.no_grad()
def evaluate_split(
    model: nn.Module,
    next_batch: Callable[[], Any],
    batches: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> SplitMetrics:
    """Token-weighted loss, perplexity and top-1/top-5 accuracy over `batches` batches.

    `next_batch()` returns a gptlab.data.loader.Batch (x, y, loss_mask); the model runs in eval
    mode (its mode is restored afterwards) under `autocast()`.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64)
    top1 = torch.zeros((), dtype=torch.float64)
    top5 = torch.zeros((), dtype=torch.float64)
    count = 0
    try:
        for _ in range(batches):
            x, y, mask = next_batch()
            with autocast():
                logits, _ = model(x)
            logits = logits.float()
            weight = torch.ones_like(y, dtype=torch.bool) if mask is None else mask.bool()
            losses = nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none"
            )
            keep = weight.reshape(-1)
            loss_sum += losses[keep].double().sum().cpu()
            k = min(5, logits.size(-1))
            best = logits.topk(k, dim=-1).indices  # (B, T, k)
            hits = best == y.unsqueeze(-1)
            top1 += hits[..., 0][weight].double().sum().cpu()
            top5 += hits.any(dim=-1)[weight].double().sum().cpu()
            count += int(keep.sum())
    finally:
        model.train(was_training)
    if count == 0:
        return SplitMetrics(math.nan, math.nan, math.nan, math.nan, 0)
    loss = float(loss_sum) / count
    return SplitMetrics(loss, perplexity(loss), float(top1) / count, float(top5) / count, count)


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
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


def _compact_rate(value: float) -> str:
    """Three significant digits: 950, 16.2K, 988M."""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            scaled = value / threshold
            return f"{scaled:.{0 if scaled >= 100 else 1 if scaled >= 10 else 2}f}{suffix}"
    return f"{value:.0f}"


def _clock(seconds: float) -> str:
    whole = int(max(seconds, 0.0))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def step_line(
    step: int,
    total_steps: int,
    loss: float,
    lr: float,
    grad_norm: float,
    tokens_per_s: float,
    elapsed_s: float,
) -> str:
    """One plain log line for pipes and CI, under 80 columns up to a million steps and 99 hours:
    `step 120/1200 loss 3.457 lr 3.00e-03 grad 0.812 16.2K tok/s 0:00:45`."""
    grad = f"{grad_norm:.3f}" if 1e-3 <= grad_norm < 1e3 else f"{grad_norm:.3g}"
    return (
        f"step {step}/{total_steps} loss {loss:.3f} lr {lr:.2e} grad {grad} "
        f"{_compact_rate(tokens_per_s)} tok/s {_clock(elapsed_s)}"
    )


class ProgressDisplay:
    """A rich progress bar (step/total, loss, tokens/s, ETA) on stderr, or nothing."""

    def __init__(self, enabled: bool, total_steps: int, start_step: int, console: Console) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} tok/s"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(
                "train", total=total_steps, completed=start_step, loss="-", rate="-"
            )
        self._last_time = time.perf_counter()
        self._last_step = start_step
        self.tokens_per_step = 0

    def __enter__(self) -> ProgressDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, step: int, loss: float) -> None:
        """Show step `step` done with training loss `loss`."""
        if self._bar is None or self._task is None:
            return
        now = time.perf_counter()
        fields: dict[str, Any] = {"loss": f"{loss:.4f}"}
        if now - self._last_time > 1.0:
            rate = (step - self._last_step) * self.tokens_per_step / (now - self._last_time)
            fields["rate"] = f"{rate:,.0f}"
            self._last_time, self._last_step = now, step
        self._bar.update(self._task, completed=step, **fields)


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
            if k not in ("kind", "step") and isinstance(v, int | float)
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
