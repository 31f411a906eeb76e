"""A training run outside its step loop: the lock on its folder, the checkpoint it resumes from
and what is restored from it (model, optimizer, loader, random state, scaler), the records it
opens, the checkpoints it saves and the report written at the end. loop.py's trainer is a
TrainingRun that adds the steps.

Records are written only once everything else is set up, and a new run that fails to start is
undone (the folder if it made it, else its records): a failed start leaves the folder as it was.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from gptlab.config import Config, diff_fields
from gptlab.errors import ConfigError, GptlabError
from gptlab.fileio import write_error_text
from gptlab.train import checkpoint as ckpt
from gptlab.train.eval_step import EvalStep
from gptlab.train.metrics import MetricsWriter, resolve_log_interval
from gptlab.train.optim import build_optimizer, lr_at
from gptlab.train.plan import (
    Plan,
    check_run_folder,
    check_shards,
    make_plan,
    prepare_run_folder,
    remove_new_run,
)
from gptlab.train.runtime import (
    Runtime,
    checkpoint_view,
    load_sharded_optimizer,
    seed_everything,
    wrap_model,
)


class TrainingRun:
    """A run folder locked and set up to train in (new, or resumed from its latest checkpoint)."""

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
