"""What `gptlab train` shows while it runs: a progress bar on a terminal, plain lines elsewhere.

The bar shows the step, loss, learning rate, last val loss, tokens/s, elapsed time and ETA.
Piped or in CI a bar shows nothing until the end, so the loop prints one plain line per train
record instead; every line fits 80 columns, so a log file or CI page shows it unwrapped.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def compact_rate(value: float) -> str:
    """Three significant digits: 950, 16.2K, 988M."""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            scaled = value / threshold
            return f"{scaled:.{0 if scaled >= 100 else 1 if scaled >= 10 else 2}f}{suffix}"
    return f"{value:.0f}"


def clock(seconds: float) -> str:
    """H:MM:SS."""
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
        f"{compact_rate(tokens_per_s)} tok/s {clock(elapsed_s)}"
    )


def eval_line(
    step: int,
    val_loss: float,
    val_ppl: float,
    val_acc: float,
    train_loss: float | None,
    best: bool,
) -> str:
    """One evaluation line under 80 columns, e.g.
    `eval 1200: val 3.412 ppl 30.3 acc 0.412 train 3.297 gap +0.115 *best`.

    train is the training-time estimate on the train split (same batches as val) when the run has
    one, else None; gap = val - train; *best marks the lowest val loss so far."""
    ppl = f"{val_ppl:.1f}" if val_ppl < 1e5 else f"{val_ppl:.2e}"
    text = f"eval {step}: val {val_loss:.3f} ppl {ppl} acc {val_acc:.3f}"
    if train_loss is not None and math.isfinite(train_loss):
        text += f" train {train_loss:.3f} gap {val_loss - train_loss:+.3f}"
    return text + (" *best" if best else "")


def benchmark_line(step: int, scores: dict[str, float]) -> str | None:
    """`bench 1200: hellaswag 0.281 (n=100, chance 0.25) lambada 0.052` or None without scores."""
    parts = []
    if "hellaswag_acc_norm" in scores:
        parts.append(
            f"hellaswag {scores['hellaswag_acc_norm']:.3f} "
            f"(n={int(scores['hellaswag_count'])}, chance 0.25)"
        )
    if "lambada_acc" in scores:
        parts.append(f"lambada {scores['lambada_acc']:.3f} (n={int(scores['lambada_count'])})")
    return f"bench {step}: " + " ".join(parts) if parts else None


class ProgressDisplay:
    """A rich progress bar on stderr (step/total, loss, lr, last val loss, tokens/s, elapsed,
    ETA), or nothing when disabled."""

    def __init__(self, enabled: bool, total_steps: int, start_step: int, console: Console) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(bar_width=12),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("lr {task.fields[lr]}"),
                TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[rate]} tok/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(
                "train",
                total=total_steps,
                completed=start_step,
                loss="-",
                lr="-",
                val="-",
                rate="-",
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

    def update(self, step: int, loss: float, lr: float) -> None:
        """Show step `step` done with training loss `loss` at learning rate `lr`."""
        if self._bar is None or self._task is None:
            return
        now = time.perf_counter()
        fields: dict[str, Any] = {"loss": f"{loss:.3f}", "lr": f"{lr:.1e}"}
        if now - self._last_time > 1.0:
            rate = (step - self._last_step) * self.tokens_per_step / (now - self._last_time)
            fields["rate"] = compact_rate(rate)
            self._last_time, self._last_step = now, step
        self._bar.update(self._task, completed=step, **fields)

    def show_val(self, val_loss: float) -> None:
        """Show the latest val loss."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, val=f"{val_loss:.3f}")
