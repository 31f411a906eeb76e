"""train(cfg): the training loop, from a prepared dataset to a run folder with checkpoints.

A step is `accum` micro batches (forward under autocast, backward, DDP gradient sync on the last
one only), then the pre-clip gradient norm, a finiteness check, the scheduled learning rate and
one optimizer step. Logging, evaluation, samples and checkpoints follow their intervals; Ctrl-C
or SIGTERM finishes the current step, saves and stops.

Trade-off: the loss and gradient norm are read back to the host every step (one device sync) so
a NaN is caught before the optimizer applies it; that costs a little speed on a GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from gptlab.config import Config, diff_fields
from gptlab.errors import ConfigError, GptlabError
from gptlab.fileio import is_disk_full, write_error_text
from gptlab.train import checkpoint as ckpt
from gptlab.train.eval_step import EvalStep
from gptlab.train.evaluation import UpdateRatio, grad_norms_by_group
from gptlab.train.metrics import LogWindow, MetricsWriter, resolve_log_interval
from gptlab.train.optim import build_optimizer, lr_at, set_lr
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
from gptlab.train.plan import (
    Plan,
    check_run_folder,
    check_shards,
    make_plan,
    prepare_run_folder,
    remove_new_run,
)
from gptlab.train.progress import ProgressDisplay, step_line
from gptlab.train.runtime import (
    Runtime,
    checkpoint_view,
    clip_gradients,
    load_sharded_optimizer,
    no_sync,
    seed_everything,
    setup_runtime,
    wrap_model,
)


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
        return _Trainer(cfg, runtime, resume, command_line, progress, quiet, adjustable).run()
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


class _Trainer:
    def __init__(
        self,
        cfg: Config,
        runtime: Runtime,
        resume: bool,
        command_line: list[str] | None,
        progress: bool,
        quiet: bool = False,
        adjustable: frozenset[str] = frozenset(),
    ) -> None:
        self.rt = runtime
        self.plan: Plan = make_plan(cfg, runtime, resume, adjustable)
        check_shards(self.plan.cfg.data.path)
        # Every rank checks the run folder before rank 0 starts writing into it.
        runtime.barrier()
        self.cfg = cfg = self.plan.cfg
        self.run_dir = Path(cfg.run.out_dir)
        self.progress = progress and not quiet
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.tokenizer: Any = None
        self.command_line = command_line
        created = not os.path.lexists(self.run_dir)
        self.lock = ckpt.acquire_lock(self.run_dir) if runtime.is_main else None
        undo_on_failure = False
        try:
            if runtime.is_main:
                # Again under the lock: another trainer may have started here since the plan.
                check_run_folder(self.run_dir, resume)
                undo_on_failure = not resume
            found = self._agreed_checkpoint() if resume else None
            if resume and found is None:
                if ckpt.step_folders(self.run_dir):
                    raise ckpt.CheckpointError(
                        f"{self.run_dir} has no valid checkpoint to resume from (each one is "
                        "incomplete or corrupt; see the warnings above). Start a new run with "
                        "--out, or restore a checkpoint folder from a backup."
                    )
                # Stopped before its first checkpoint: the same run again from step 0 is exact.
                self._say(f"note: {self.run_dir} has no checkpoint yet; starting at step 0")
                resume = False
            if runtime.sharded and not runtime.is_main:
                from gptlab.data.tokenizers import load_tokenizer

                # Every FSDP rank joins the sampling forward passes, so each needs the tokenizer.
                self.tokenizer = load_tokenizer(self.cfg.data.path)
            self._build(found)
            self.evals.check_benchmarks()
            self._open_records(resume)
        except BaseException:
            if undo_on_failure:
                remove_new_run(self.run_dir, created)
            self._release()
            raise

    def _agreed_checkpoint(self) -> tuple[Path, dict[str, Any]] | None:
        """Rank 0's choice of checkpoint to resume from, on every rank."""
        found = ckpt.latest_valid_checkpoint(self.run_dir) if self.rt.is_main else None
        step = self.rt.broadcast_int(-1 if found is None else int(found[1]["step"]))
        if found is not None or step < 0:
            return found
        path = self.run_dir / ckpt.CHECKPOINTS_DIR / ckpt.checkpoint_name(step)
        return path, ckpt.check_checkpoint(path, verify_hashes=False)

    def _release(self) -> None:
        if self.lock is not None:
            ckpt.release_lock(self.lock)
            self.lock = None

    def _build(self, found: tuple[Path, dict[str, Any]] | None) -> None:
        from gptlab.model.gpt import GPT

        cfg, rt = self.cfg, self.rt
        seed_everything(cfg.train.seed)
        self.model = GPT(cfg.model).to(rt.device)
        if found is not None:
            self._check_model_config(*found)
            # Before wrapping: FSDP then shards the loaded weights.
            ckpt.load_model_weights(self.model, found[0])
        self.train_model = wrap_model(self.model, rt, cfg.train.compile)
        # After wrapping: FSDP replaces the parameters with sharded ones.
        self.optimizer = build_optimizer(self.model, cfg.optim, rt.device.type)
        self.loader = self.plan.train_loader
        self.step, self.tokens, self.best_val = 0, 0, math.inf
        if found is not None:
            path, state = found
            if rt.sharded:
                load_sharded_optimizer(self.model, self.optimizer, path)
            else:
                ckpt.load_optimizer_state(self.optimizer, path)
            self.loader.load_state_dict(state["loader"])
            ckpt.restore_rng_state(state["rng"])
            if rt.scaler is not None and state.get("scaler"):
                rt.scaler.load_state_dict(state["scaler"])
            self.step, self.tokens = int(state["step"]), int(state["tokens"])
            best = state.get("best_val_loss")
            self.best_val = math.inf if best is None else float(best)
        self.last_saved_step = self.step if found is not None else -1
        self.evals = EvalStep(self.plan, self.model, self.best_val, self._say)
        self.evals.tokenizer = self.tokenizer
        self.step_stats: dict[str, Any] = {}

    def _open_records(self, resume: bool) -> None:
        """Write the run folder's records (only once the run is known to start)."""
        cfg = self.cfg
        self.metrics = None
        if not self.rt.is_main:
            return
        self.tokenizer = prepare_run_folder(self.plan, self.command_line, resume)
        self.evals.tokenizer = self.tokenizer
        self.metrics = MetricsWriter(
            self.run_dir,
            tensorboard=cfg.run.tensorboard,
            wandb=cfg.run.wandb,
            wandb_project=cfg.run.wandb_project,
            wandb_mode=cfg.run.wandb_mode,
            resume=resume,
        )
        if resume:
            self.metrics.truncate_after(self.step)
        self.evals.metrics = self.metrics

    def _check_model_config(self, path: Path, state: dict[str, Any]) -> None:
        saved = ckpt.checkpoint_config(state, path)
        changed = diff_fields(saved.model, self.cfg.model, "model")
        if changed:
            raise ConfigError(
                f"Cannot resume {self.run_dir}: the model config differs from the "
                f"checkpoint's: {', '.join(changed)}. Resume with the run's own model "
                "settings, or start a new run with --out."
            )

    # ---- the loop -------------------------------------------------------------------------------

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

    def _summary(self) -> str:
        counts = self.model.num_params()
        plan, rt = self.plan, self.rt
        start = f" from step {self.step}" if self.step else ""
        t = self.cfg.train
        log_interval = resolve_log_interval(t.log_interval_steps, plan.total_steps)
        evals = f"every {t.eval_interval_steps} steps" if t.eval_interval_steps else "at the end"
        eval_tokens = plan.eval_batches * t.micro_batch_size * self.cfg.model.context_length
        # Short lines: a log file or CI page shows them unwrapped.
        return (
            f"model: {counts.total:,} parameters ({counts.embedding:,} embedding, "
            f"{counts.non_embedding:,} non-embedding)\n"
            f"device {rt.device} ({rt.device_name}), {rt.precision}, {rt.world_size} process(es)\n"
            f"{plan.total_steps} steps{start} of {plan.batch_size} x "
            f"{self.cfg.model.context_length} tokens ({plan.accum_steps} micro batch(es) of "
            f"{t.micro_batch_size}), log every {log_interval}\n"
            f"evaluation {evals}: {plan.eval_batches} batch(es), {eval_tokens:,} tokens per split"
        )

    def _save(self, evaluated: bool) -> None:
        if self.last_saved_step == self.step:
            return
        # FSDP gathers on every rank; only rank 0 gets something to write.
        view = checkpoint_view(self.rt, self.model, self.optimizer, self.cfg)
        if view is None:
            self.last_saved_step = self.step
            return
        model, optimizer = view
        val = self.evals.last.get("val") if evaluated else None
        val_loss = val.loss if val is not None and math.isfinite(val.loss) else None
        if val_loss is not None:
            self.best_val = min(self.best_val, val_loss)
        state = {
            "tokens": self.tokens,
            "epoch": self.loader.epoch_progress,
            "loader": self.loader.state_dict(),
            "lr": lr_at(max(0, self.step - 1), self.cfg.optim, self.plan.total_steps),
            "best_val_loss": self.best_val if math.isfinite(self.best_val) else None,
            "scaler": self.rt.scaler.state_dict() if self.rt.scaler is not None else None,
        }
        ckpt.save_checkpoint(
            self.run_dir,
            self.step,
            model,
            optimizer,
            state,
            config=self.cfg,
            keep_last=self.cfg.train.keep_last_checkpoints,
            val_loss=val_loss,
        )
        self.last_saved_step = self.step

    def _write_report(self) -> None:
        if not (self.cfg.run.report and self.rt.is_main):
            return
        try:
            from gptlab.report import write_report
        except ImportError:
            self._say("note: gptlab.report is not available; no report.html written")
            return
        try:
            write_report(self.run_dir)
        except GptlabError:
            pass
        except OSError as exc:
            # The training itself is complete and saved: say what failed, not "resume".
            self.console.print(
                f"warning: training finished and step {self.step} is saved, but report.html "
                f"could not be written: {write_error_text(exc)}. Free space, then run "
                f"`gptlab report {self.run_dir}`.",
                highlight=False,
                soft_wrap=True,
            )

    def _say(self, text: str) -> None:
        if self.rt.is_main and not self.quiet:
            # Piped, rich would break long lines at 80 columns; a log file keeps them whole.
            self.console.print(text, highlight=False, soft_wrap=not self.console.is_terminal)


__all__ = [
    "DeviceOutOfMemory",
    "RunStorageError",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "is_out_of_memory",
    "train",
]
