"""train(cfg): the training loop, from a prepared dataset to a run folder with checkpoints.

A step is `accum` micro batches (forward under autocast, backward, DDP gradient sync on the last
one only), then the pre-clip gradient norm, a finiteness check, the scheduled learning rate and
one optimizer step. Logging, evaluation, samples and checkpoints follow their intervals; Ctrl-C
or SIGTERM finishes the current step, saves and stops.

Trade-off: the loss and gradient norm are read back to the host every step (one device sync) so
a NaN is caught before the optimizer applies it; that costs a little speed on a GPU.

Setting up the run (lock, resume, records), saving checkpoints and the final report are
training_run.py's; this module holds the steps.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Any

import torch

from gptlab.config import Config
from gptlab.fileio import is_disk_full, write_error_text
from gptlab.train.evaluation import UpdateRatio, grad_norms_by_group
from gptlab.train.metrics import LogWindow, resolve_log_interval
from gptlab.train.optim import lr_at, set_lr
from gptlab.train.outcome import (
    DeviceOutOfMemory,
    RunStorageError,
    StopSignals,
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    is_out_of_memory,
    out_of_memory_message,
)
from gptlab.train.progress import ProgressDisplay, step_line
from gptlab.train.runtime import clip_gradients, no_sync, setup_runtime
from gptlab.train.training_run import TrainingRun


def train(
    cfg: Config,
    *,
    resume: bool = False,
    command_line: list[str] | None = None,
    progress: bool = True,
    quiet: bool = False,
    adjustable: frozenset[str] = frozenset(),
) -> TrainResult:
    """Train a model as `cfg` says; with resume=True continue cfg.run.out_dir exactly.

    adjustable names the recipe fields the user did not set (see plan.ADJUSTABLE_FIELDS): they
    follow the horizon, step batch and device, and a note says what changed.

    progress=True draws a progress bar on a terminal (piped or in CI, where a bar shows nothing
    until the end, it prints one line per train record instead); False always prints those lines;
    quiet=True prints nothing at all (metrics.jsonl still records every step).

    Raises ConfigError/DataError/CheckpointError for bad input, TrainingDiverged on NaN/inf
    (after saving the last good state) and TrainingInterrupted on SIGINT/SIGTERM.
    """
    runtime = setup_runtime(cfg.train)
    try:
        result = _Trainer(cfg, runtime, resume, command_line, progress, quiet, adjustable).run()
        # Ranks leave together: one that tears down its process group while rank 0 still
        # writes the report could abort in gloo's teardown (seen as SIGABRT on rank 1).
        runtime.barrier()
        return result
    except RuntimeError as exc:  # torch's OutOfMemoryError is one
        if not is_out_of_memory(exc):
            raise
        raise DeviceOutOfMemory(out_of_memory_message(cfg, cfg.run.out_dir)) from exc
    except OSError as exc:
        # A full disk or an unwritable folder is the user's to fix: say so, no traceback.
        run_dir = cfg.run.out_dir
        fix = (
            "Free disk space (or raise the file size or quota limit)"
            if is_disk_full(exc)
            else f"Check that {run_dir} is writable and its disk works"
        )
        raise RunStorageError(
            f"Training into {run_dir} stopped: {write_error_text(exc)}. Checkpoints saved "
            f"before this are intact. {fix}, then continue with `gptlab train --resume "
            f"{run_dir}` (or start again with --out if it has no checkpoint yet)."
        ) from exc
    finally:
        runtime.close()


class _Trainer(TrainingRun):
    """The step loop over a TrainingRun: train, log, evaluate, sample and save at intervals."""

    def run(self) -> TrainResult:
        cfg, plan = self.cfg, self.plan
        start_s = self.start_s = time.perf_counter()
        self.elapsed_offset = 0.0
        reason = "done"
        for note in (*self.rt.notes, *plan.notes):
            self._say(note)
        self._say(self._summary())
        # Piped or in CI a live bar shows nothing until the end: plain step lines instead.
        live = self.progress and (self.console.is_terminal or self.console.is_jupyter)
        self.step_lines = not live and not self.quiet
        display = ProgressDisplay(
            live and self.rt.is_main, plan.total_steps, self.step, self.console
        )
        display.tokens_per_step = plan.tokens_per_step
        log_interval = resolve_log_interval(cfg.train.log_interval_steps, plan.total_steps)
        self.window = LogWindow()
        last_loss: float | None = None
        self.evals.display = display
        try:
            with StopSignals() as stop, display:
                if cfg.train.eval_at_start and self.step == 0:
                    self._evaluate(0.0)
                    self.window.start_time = time.perf_counter()
                while self.step < plan.total_steps:
                    evaluating = self._evaluates_at(self.step + 1)
                    epoch_before = self.loader.epoch
                    loss, grad_norm, lr = self._train_step(evaluating)
                    self.step += 1
                    self.tokens += plan.tokens_per_step
                    last_loss = loss
                    self.window.add(loss, grad_norm, lr)
                    elapsed = time.perf_counter() - start_s
                    is_last = self.step == plan.total_steps
                    interval = cfg.train.checkpoint_interval_steps
                    saving = is_last or (evaluating if interval == 0 else self.step % interval == 0)
                    # Evaluations and checkpoints close the window: the records of a resumed run
                    # miss no step, and tokens/s counts training time only.
                    if self.step % log_interval == 0 or self.step == 1 or evaluating or saving:
                        self._log_train(elapsed)
                    display.update(self.step, loss, lr)
                    if evaluating:
                        self._evaluate(elapsed)
                    sampled = False
                    if not evaluating and cfg.train.sample_every_epoch:
                        sampled = self.loader.epoch > epoch_before
                        if sampled:
                            self.evals.epoch_samples(self._position(elapsed))
                    if saving:
                        self._save(evaluating)
                    if evaluating or saving or sampled:
                        self.window.start_time = time.perf_counter()
                    # All ranks must stop after the same step, whichever got the signal.
                    if self.rt.any_rank(stop.signum is not None) and not is_last:
                        reason = "interrupted"
                        self._log_train(elapsed)
                        self._save(False)
                        signum = stop.signum if stop.signum is not None else signal.SIGTERM
                        raise TrainingInterrupted(signum, self.run_dir, self.step)
        except TrainingDiverged:
            reason = "nan"
            raise
        except (TrainingInterrupted, KeyboardInterrupt):
            reason = "interrupted"
            raise
        except BaseException:
            reason = "error"
            raise
        finally:
            elapsed = time.perf_counter() - start_s
            if self.metrics is not None:
                # On a full disk the end record may not fit; the error raised says why.
                with contextlib.suppress(OSError):
                    self.metrics.end(
                        step=self.step, tokens=self.tokens, elapsed_s=elapsed, reason=reason
                    )
                with contextlib.suppress(OSError):
                    self.metrics.close()
            self._release()
        self._write_report()
        val = self.evals.last.get("val")
        return TrainResult(
            run_dir=self.run_dir,
            steps=self.step,
            tokens=self.tokens,
            train_loss=last_loss,
            val_loss=val.loss if val else None,
            val_ppl=val.ppl if val else None,
            val_acc=val.acc if val else None,
            elapsed_s=elapsed,
            stop_reason=reason,
        )

    def _evaluates_at(self, step: int) -> bool:
        """Whether step `step` (1-based, after it is taken) ends in an evaluation."""
        interval = self.cfg.train.eval_interval_steps
        return step == self.plan.total_steps or (interval > 0 and step % interval == 0)

    def _train_step(self, evaluating: bool = False) -> tuple[float, float, float]:
        """One optimizer step; before an evaluation also the per-group gradient norms and
        update/weight ratios (cheap, but not every step)."""
        cfg, rt, plan = self.cfg, self.rt, self.plan
        # Sharded parameters hold only a slice per process: group norms would need gathers.
        stats = evaluating and not rt.sharded
        # Kept so a NaN step can be saved as if it never started.
        loader_before = self.loader.state_dict()
        rng_before = torch.get_rng_state()
        loss_sum = torch.zeros((), device=rt.device)
        for micro in range(plan.accum_steps):
            x, y, mask = self.loader.next_batch()
            with no_sync(self.train_model, micro < plan.accum_steps - 1):
                with rt.autocast():
                    _, loss = self.train_model(x, y, mask)
                assert loss is not None
                loss_sum += loss.detach()
                scaled = loss / plan.accum_steps
                (rt.scaler.scale(scaled) if rt.scaler is not None else scaled).backward()
        if rt.scaler is not None:
            rt.scaler.unscale_(self.optimizer)
        max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        if stats:
            self.step_stats = {"grad_norm_by_group": grad_norms_by_group(self.model)}
        grad_norm = clip_gradients(self.model, max_norm)
        # The step's loss over every rank's samples, so all ranks log and NaN-check the same.
        mean_loss = float(rt.mean_over_ranks(loss_sum)) / plan.accum_steps
        # With fp16 an inf gradient is normal: the scaler skips the step and lowers the scale.
        bad_grad = not math.isfinite(grad_norm) and rt.scaler is None
        if not math.isfinite(mean_loss) or bad_grad:
            self.optimizer.zero_grad(set_to_none=True)
            self.loader.load_state_dict(loader_before)
            torch.set_rng_state(rng_before)
            self._diverged(mean_loss, grad_norm)
        lr = lr_at(self.step, cfg.optim, plan.total_steps)
        set_lr(self.optimizer, lr, cfg.optim)
        ratio = UpdateRatio(self.model) if stats else None
        if rt.scaler is not None:
            rt.scaler.step(self.optimizer)
            rt.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if ratio is not None:
            self.step_stats["update_ratio_by_group"] = ratio.ratios()
        return mean_loss, grad_norm, lr

    def _diverged(self, loss: float, grad_norm: float) -> None:
        step = self.step + 1
        if self.last_saved_step != self.step:
            self._log_train(time.perf_counter() - self.start_s)
            self._save(False)
        raise TrainingDiverged(
            f"Training diverged at step {step}: loss={loss}, gradient norm={grad_norm}. That "
            f"step was not applied; the state before it is saved in {self.run_dir}. Try a lower "
            f"learning rate (optim.lr={self.cfg.optim.lr}), bf16 instead of fp16, gradient "
            "clipping (optim.grad_clip=1.0) or a longer warmup, then resume with "
            f"`gptlab train --resume {self.run_dir} --set optim.lr=...`."
        )

    def _log_train(self, elapsed: float) -> None:
        """Write the log window's train record (and a step line) and start the next window."""
        plan, rt, window = self.plan, self.rt, self.window
        if not len(window):
            return
        rt.synchronize()
        now = time.perf_counter()
        tokens_per_s = len(window) * plan.tokens_per_step / max(now - window.start_time, 1e-9)
        mfu = None
        if rt.peak_flops:
            mfu = plan.flops_per_token * tokens_per_s / rt.peak_flops
        summary = window.summary()
        record = {
            "step": self.step,
            "tokens": self.tokens,
            "epoch": self.loader.epoch_progress,
            **summary,
            "tokens_per_s": tokens_per_s,
            "mfu": mfu,
            "memory_mb": rt.memory_mb(),
            "elapsed_s": elapsed,
        }
        window.reset(now)
        if self.metrics is not None:
            self.metrics.train(**record)
        if self.step_lines:
            line = step_line(
                self.step,
                plan.total_steps,
                summary["loss"],
                summary["lr"],
                summary["grad_norm"],
                tokens_per_s,
                elapsed,
            )
            self._say(line)

    def _position(self, elapsed: float) -> dict[str, Any]:
        """Where the run is, as the first fields of an eval record."""
        return {
            "step": self.step,
            "tokens": self.tokens,
            "epoch": self.loader.epoch_progress,
            "elapsed_s": elapsed,
        }

    def _evaluate(self, elapsed: float) -> None:
        self.evals.run(self._position(elapsed), self.step_stats)
        self.step_stats = {}


__all__ = [
    "DeviceOutOfMemory",
    "RunStorageError",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "is_out_of_memory",
    "train",
]
