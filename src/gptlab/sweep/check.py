"""The dry run: every check a trial's training run would make, before any trial trains.

Each planned trial's config is built and planned exactly as `gptlab train` plans a run (config
validation, the dataset's meta.json and vocabulary, the batch arithmetic, the horizon, a loader
over the train split and one over the val split, each needing at least one window), so a trial
that would fail at its start is marked with the reason now. A valid trial gets its exact
parameter count and an estimated time.

Trade-off: the estimate comes from a short measurement on this machine, not from a table: for
each distinct model shape, micro batch and device, about two seconds of training steps on random
tokens (gptlab.bench's step, after an untimed one). Evaluation forward passes are counted at one
third of a training step (no backward); start-up, sampling, checkpoints and the report are not
counted. Small models on a busy CPU vary by tens of percent from run to run, so the figure is a
guide, not a promise.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import GptlabError
from gptlab.sweep.spec import (
    Log,
    SweepSpec,
    TrialPlan,
    stderr_log,
    trial_adjustable,
    trial_config,
    trial_dir,
)

EVAL_COST_OF_A_TRAINING_TOKEN = 1 / 3
"""An evaluation token costs a forward pass; a training token a forward and a backward (~2x)."""

_TIMING_BUDGET_S = 2.0
"""Seconds of timed steps per model shape (at least 3 steps, at most 20)."""


@dataclass(frozen=True)
class TrialCheck:
    """What the dry run found for one planned trial."""

    plan: TrialPlan
    error: str | None
    """Why the trial would fail at its start; None when every check passed."""
    params: int | None = None
    """Parameters of the trial's model (tied weights once, vocabulary padding not counted)."""
    steps: int | None = None
    """Optimizer steps the trial trains."""
    train_tokens: int | None = None
    """Tokens the trial trains on: steps x tokens per step."""
    eval_tokens: int | None = None
    """Tokens its evaluations read: evaluations x splits x batches x micro batch x context."""
    tokens_per_s: float | None = None
    """Measured training tokens/s of this shape on this machine; None when not measured."""
    device: str = ""
    """Where it was measured (and where the trial would train)."""

    @property
    def seconds(self) -> float | None:
        """Estimated wall time: train tokens and eval tokens (at a third) over measured tokens/s."""
        if self.tokens_per_s is None or self.train_tokens is None or self.eval_tokens is None:
            return None
        work = self.train_tokens + EVAL_COST_OF_A_TRAINING_TOKEN * self.eval_tokens
        return work / self.tokens_per_s


def check_trials(
    spec: SweepSpec, plans: list[TrialPlan], *, measure: bool = True, log: Log | None = None
) -> list[TrialCheck]:
    """Plan every trial as training would and, if `measure`, time each distinct model shape."""
    emit = log or stderr_log
    speeds: dict[str, tuple[float, str]] = {}
    checks = []
    with tempfile.TemporaryDirectory(prefix="gptlab-dry-run-") as scratch:
        for plan in plans:
            try:
                checks.append(_check_one(spec, plan, Path(scratch), measure, speeds, emit))
            except GptlabError as exc:
                checks.append(TrialCheck(plan, str(exc)))
    return checks


def _check_one(
    spec: SweepSpec,
    plan: TrialPlan,
    scratch: Path,
    measure: bool,
    speeds: dict[str, tuple[float, str]],
    emit: Log,
) -> TrialCheck:
    import torch

    from gptlab.model.gpt import GPT
    from gptlab.train.plan import make_plan
    from gptlab.train.runtime import setup_runtime

    try:
        cfg = trial_config(spec, plan.params, trial_dir(spec, plan.trial_id))
    except GptlabError as exc:
        return TrialCheck(plan, f"invalid config: {exc}")
    # Planned as a new run in an empty scratch folder: the dry run writes nothing of the sweep's.
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out_dir=str(scratch / "t")))
    runtime = setup_runtime(cfg.train)
    try:
        run_plan = make_plan(cfg, runtime, False, trial_adjustable(spec, plan.params))
        eval_splits = [s for s, n in run_plan.split_tokens.items() if n > 0]
        for split in eval_splits:
            if split != "train":  # the train loader was built by make_plan
                run_plan.make_loader(split, seed=cfg.train.seed + 1, drop_last=False)
        model_cfg = run_plan.cfg.model
        with torch.device("meta"):
            params = GPT(model_cfg).num_params().total
        t = run_plan.cfg.train  # warmup, intervals and micro batch as the run will use them
        steps = run_plan.total_steps
        evals = 1
        if t.eval_interval_steps:
            evals = steps // t.eval_interval_steps + (1 if steps % t.eval_interval_steps else 0)
        window_tokens = t.micro_batch_size * model_cfg.context_length
        eval_tokens = evals * len(eval_splits) * run_plan.eval_batches * window_tokens
        speed: tuple[float, str] | None = None
        if measure:
            speed = _measured_speed(run_plan.cfg, runtime.device_name, speeds, emit)
    finally:
        runtime.close()
    return TrialCheck(
        plan,
        None,
        params=params,
        steps=steps,
        train_tokens=steps * run_plan.tokens_per_step,
        eval_tokens=eval_tokens,
        tokens_per_s=speed[0] if speed else None,
        device=speed[1] if speed else runtime.device_name,
    )


def _measured_speed(
    cfg: Any, device_name: str, speeds: dict[str, tuple[float, str]], emit: Log
) -> tuple[float, str]:
    """Training tokens/s of cfg's model and micro batch here, measured once per distinct shape."""
    from gptlab.bench import measure_throughput

    t = cfg.train
    key = repr((cfg.model, t.micro_batch_size, t.device, t.precision, t.compile))
    if key not in speeds:
        emit(
            f"  timing training steps of a {cfg.model.n_layer}-layer, {cfg.model.n_embd}-wide "
            f"model, micro batch {t.micro_batch_size} x {cfg.model.context_length} on "
            f"{device_name} ..."
        )
        # A first short pass warms the process up (threads, allocator) and sizes the second.
        result = measure_throughput(cfg, steps=2, warmup=1)
        steps = int(min(20, max(3, _TIMING_BUDGET_S * 1000 / max(result.ms_per_step, 1e-3))))
        result = measure_throughput(cfg, steps=steps, warmup=1)
        speeds[key] = (result.tokens_per_s, f"{result.device} ({result.precision})")
    return speeds[key]
