"""How a training run ends: its result, the errors it raises, and the stop signals it honours.

Ctrl-C or SIGTERM does not kill a step half-way: the first one is recorded and the loop stops
after the current step, saves and raises TrainingInterrupted; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from gptlab.config import Config
from gptlab.errors import GptlabError


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM stopped training after a checkpoint; exit_code is 130 or 143."""

    def __init__(self, signum: int, run_dir: Path, step: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(
            f"Training stopped by signal {signum} after step {step}; a checkpoint was saved. "
            f"Continue with `gptlab train --resume {run_dir}`."
        )


class TrainingDiverged(GptlabError):
    """The loss or gradient norm became NaN/inf; the step was not applied."""


class RunStorageError(GptlabError):
    """Writing the run folder failed (disk full, file size limit, no permission)."""


class DeviceOutOfMemory(GptlabError):
    """The device (GPU, MPS or the CPU's RAM) could not hold a training step."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError the CPU and MPS allocators raise."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def out_of_memory_message(cfg: Config, run_dir: str) -> str:
    """What to do when a step does not fit: a smaller micro batch first."""
    t, m = cfg.train, cfg.model
    half = max(1, t.micro_batch_size // 2)
    return (
        f"The device ran out of memory training {run_dir} (micro batch of "
        f"{t.micro_batch_size} x {m.context_length} tokens, {t.precision} precision). Use a "
        f"smaller micro batch, e.g. --set train.micro_batch_size={half} (set train.batch_size "
        "to keep the step's batch: the rest is accumulated), --precision bf16 on a GPU, or a "
        "smaller model or context. Checkpoints saved before this are intact: continue with "
        f"`gptlab train --resume {run_dir} --set train.micro_batch_size={half}`."
    )


@dataclass(frozen=True)
class TrainResult:
    """Where the run is and how it ended."""

    run_dir: Path
    steps: int
    tokens: int
    train_loss: float | None
    val_loss: float | None
    val_ppl: float | None
    val_acc: float | None
    elapsed_s: float
    stop_reason: str
    """done, interrupted or nan."""


class StopSignals:
    """First SIGINT/SIGTERM sets `signum` (stop after this step); a second SIGINT aborts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
