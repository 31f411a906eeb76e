"""Running a sweep: trials one after another, resume, the folder lock, Optuna's choices."""

from __future__ import annotations

import math
import shutil
import statistics
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import ConfigError, GptlabError
from gptlab.fileio import atomic_write_json, atomic_write_text
from gptlab.sweep.numbers import format_duration, format_result
from gptlab.sweep.results import run_results
from gptlab.sweep.spec import (
    OPTUNA_INSTALL_HINT,
    Log,
    SweepSpec,
    load_spec,
    plan_trials,
    stderr_log,
    trial_adjustable,
    trial_config,
    trial_dir,
    trial_fingerprint,
    trial_id,
    utc_now,
)
from gptlab.sweep.state import (
    Reconciliation,
    SweepState,
    TrialRecord,
    load_state,
    reconcile,
)
from gptlab.sweep.summary import Summary, write_summary


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the sweep during a trial; the state was saved first."""

    def __init__(self, exit_code: int, trial: str) -> None:
        self.exit_code = exit_code
        super().__init__(
            f"Sweep stopped during trial {trial}; its state is saved and the next run of the "
            "same spec resumes it from its latest checkpoint."
        )


@dataclass(frozen=True)
class SweepResult:
    """What a call of run_sweep did."""

    out_dir: Path
    trials: list[TrialRecord]
    """Trials of the current spec, in order."""
    ran: int
    """Trials trained (fully or in part) by this call."""
    reconciliation: Reconciliation
    summary: Summary | None


def _best(records: list[TrialRecord], metric: str) -> TrialRecord | None:
    done = [t for t in records if t.metric(metric) is not None]
    return min(done, key=lambda t: t.metric(metric) or 0.0) if done else None


def _run_one(
    spec: SweepSpec,
    record: TrialRecord,
    state: SweepState,
    train_progress: bool,
    command_line: list[str] | None,
    log: Log,
) -> None:
    """Build, train and record one trial; a user error or a crash marks it failed."""
    run_dir = trial_dir(spec, record.trial_id)
    try:
        cfg = trial_config(spec, record.params, run_dir)
    except GptlabError as exc:
        record.status, record.error = "failed", f"invalid config: {exc}"
        record.finished = utc_now()
        state.save(spec.state_path)
        return
    from gptlab.train.checkpoint import latest_valid_checkpoint

    found = latest_valid_checkpoint(run_dir) if run_dir.is_dir() else None
    checkpoint = found[0] if found else None
    resume = record.status == "running" and checkpoint is not None
    if not resume and run_dir.exists():
        # A run folder without a usable checkpoint is the debris of an earlier attempt.
        shutil.rmtree(run_dir)
    if resume:
        log(f"  resuming from {checkpoint.name if checkpoint else ''}")
    else:
        write_trial_file(spec, record, run_dir)
    record.status, record.error, record.results = "running", None, {}
    record.attempts += 1
    record.started, record.finished = utc_now(), None
    state.save(spec.state_path)
    from gptlab.train.loop import TrainingInterrupted, train

    start = time.perf_counter()
    try:
        train(
            cfg,
            adjustable=trial_adjustable(spec, record.params),
            resume=resume,
            command_line=command_line,
            progress=train_progress,
            quiet=not train_progress,
        )
    except KeyboardInterrupt as exc:
        state.save(spec.state_path)  # still "running": the next call resumes it
        raise SweepInterrupted(130, record.trial_id) from exc
    except TrainingInterrupted as exc:
        state.save(spec.state_path)
        raise SweepInterrupted(exc.exit_code, record.trial_id) from exc
    except GptlabError as exc:
        record.status, record.error = "failed", str(exc)
    except Exception as exc:  # a bug in one trial must not cost the rest of the sweep
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
        detail = "".join(traceback.format_exception(exc))
        atomic_write_text(run_dir / "sweep_error.txt", detail)
    else:
        results = run_results(run_dir)
        if not results:
            record.status = "failed"
            record.error = f"training ended without an evaluation in {run_dir / 'metrics.jsonl'}"
        else:
            record.status, record.results = "done", results
    record.results["trial_s"] = round(time.perf_counter() - start, 3)
    record.finished = utc_now()
    state.save(spec.state_path)


TRIAL_FILE = "trial.json"
"""The trial's full settings in its run folder: exact values under their dotted names."""


def write_trial_file(spec: SweepSpec, record: TrialRecord, run_dir: Path) -> None:
    """<run_dir>/trial.json: which sweep, which trial, every swept value in full."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        run_dir / TRIAL_FILE,
        {
            "format": "gptlab-sweep-trial",
            "sweep": spec.name,
            "spec": str(spec.path),
            "trial_id": record.trial_id,
            "index": record.index,
            "params": record.params,
            "fingerprint": record.fingerprint,
            "preset": spec.preset,
            "base": spec.base,
        },
    )


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    retry_failed: bool = False,
    max_trials: int | None = None,
    train_progress: bool = False,
    command_line: list[str] | None = None,
    log: Log | None = None,
    summarize: bool = True,
) -> SweepResult:
    """Run (or resume) every trial of a spec, then write the summary.

    `retry_failed` re-runs trials recorded as failed; `max_trials` caps how many trials this call
    trains (None: all); `train_progress` shows each run's progress bar; `log` receives one line
    per event (default: stderr). Ctrl-C or SIGTERM during a trial saves the state and raises
    SweepInterrupted (the trial stays "running" and resumes next time).
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    emit = log or stderr_log
    if max_trials is not None and max_trials < 0:
        raise ConfigError(f"max_trials={max_trials}: give 0 or more (None runs every trial).")
    from gptlab.train.checkpoint import acquire_lock, release_lock

    # One sweep per folder: a second one would delete the trial folder the first trains in.
    lock = acquire_lock(spec.out_dir, "Sweep folder")
    try:
        return _run_sweep_locked(
            spec, retry_failed, max_trials, train_progress, command_line, emit, summarize
        )
    finally:
        release_lock(lock)


def _run_sweep_locked(
    spec: SweepSpec,
    retry_failed: bool,
    max_trials: int | None,
    train_progress: bool,
    command_line: list[str] | None,
    emit: Log,
    summarize: bool,
) -> SweepResult:
    if spec.state_path.exists():
        state = load_state(spec.out_dir)
    else:
        state = SweepState(spec.name, str(spec.path), spec.method, spec.metric, utc_now(), [])
    state.spec_path, state.method, state.metric = str(spec.path), spec.method, spec.metric

    if spec.method == "optuna":
        _import_optuna()  # fail before any state is written
        records, rec = _optuna_records(spec, state)
    else:
        records, rec = reconcile(spec, state, plan_trials(spec))
    if rec.kept and (rec.new or rec.retired):
        emit(
            f"The spec changed: {rec.kept} recorded trials still match and are kept, "
            f"{rec.new} are new, {rec.retired} recorded trials no longer match (set aside in "
            "sweep.json; their folders are untouched)."
        )
    elif rec.retired:
        emit(f"{rec.retired} recorded trials no longer match the spec: set aside, folders kept.")
    state.save(spec.state_path)

    ran = 0
    limit = math.inf if max_trials is None else max_trials
    try:
        if spec.method == "optuna":
            ran = _run_optuna(
                spec, state, records, retry_failed, limit, train_progress, command_line, emit
            )
        else:
            total = len(records)
            for n, record in enumerate(records, start=1):
                if record.status == "done" or (record.status == "failed" and not retry_failed):
                    continue
                if ran >= limit:
                    break
                ran += 1
                _announce(n, total, record, emit)
                _run_one(spec, record, state, train_progress, command_line, emit)
                _report_trial(n, total, record, records, spec.metric, emit)
                _report_eta(records, _still_to_run(records[n:], retry_failed, limit - ran), emit)
    except SweepInterrupted:
        emit(f"Interrupted: state saved to {spec.state_path}; run the same command to resume.")
        raise
    records = state.current
    summary = write_summary(spec, state, log=emit) if summarize else None
    return SweepResult(spec.out_dir, records, ran, rec, summary)


def _announce(n: int, total: int, record: TrialRecord, emit: Log) -> None:
    again = " (resumed)" if record.status == "running" else ""
    emit(f"[{n}/{total}] {record.trial_id}: starting{again} ...")


def _still_to_run(ahead: list[TrialRecord], retry_failed: bool, allowed: float) -> int:
    """How many of the trials `ahead` this call will still train."""
    runs = [
        t
        for t in ahead
        if t.status in ("pending", "running") or (retry_failed and t.status == "failed")
    ]
    return int(min(len(runs), allowed))


def _report_eta(records: list[TrialRecord], count: int, emit: Log) -> None:
    """How long `count` more trials take, at the mean wall time of the done trials so far."""
    walls = [
        float(t.results["trial_s"])
        for t in records
        if t.status == "done" and isinstance(t.results.get("trial_s"), int | float)
    ]
    if count <= 0 or not walls:
        return
    mean = statistics.fmean(walls)
    emit(
        f"  {count} trial{'s' if count > 1 else ''} left: about {format_duration(mean * count)} "
        f"more (mean {format_duration(mean)} per finished trial so far)"
    )


def _report_trial(
    n: int, total: int, record: TrialRecord, records: list[TrialRecord], metric: str, emit: Log
) -> None:
    best = _best(records, metric)
    best_text = (
        f"best so far {metric} {format_result(metric, best.metric(metric))} ({best.trial_id})"
        if best
        else "no best yet"
    )
    value = record.metric(metric)
    if record.status == "done" and value is not None:
        outcome = f"{metric} {format_result(metric, value)}"
    elif record.status == "done":
        outcome = f"done, but it has no {metric} (data without a val split: rank by train_loss)"
    else:
        outcome = f"FAILED: {record.error}"
    wall = record.results.get("trial_s")
    wall_text = f" in {format_duration(wall)}" if isinstance(wall, int | float) else ""
    emit(f"[{n}/{total}] {record.trial_id}: {outcome}{wall_text}; {best_text}")


# ---------------------------------------------------------------------------------------------
# Optuna: the same trial folders and state, trials chosen by TPE one at a time.


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            f"method = optuna needs the optuna package, which is not installed: run "
            f"{OPTUNA_INSTALL_HINT} (or use method = random)."
        ) from exc
    return optuna


def _optuna_distributions(spec: SweepSpec, optuna: Any) -> dict[str, Any]:
    dists: dict[str, Any] = {}
    for p in spec.parameters:
        if p.values is not None:
            dists[p.name] = optuna.distributions.CategoricalDistribution(list(p.values))
        elif p.is_int:
            dists[p.name] = optuna.distributions.IntDistribution(
                int(p.low or 0), int(p.high or 0), log=p.log
            )
        else:
            dists[p.name] = optuna.distributions.FloatDistribution(
                p.low or 0.0, p.high or 0.0, log=p.log
            )
    return dists


def _optuna_records(spec: SweepSpec, state: SweepState) -> tuple[list[TrialRecord], Reconciliation]:
    """Recorded trials that still fit the spec stay (in their order); the rest are set aside."""
    kept, retired = [], 0
    for record in state.trials:
        fits = record.fingerprint == trial_fingerprint(spec, record.params) and set(
            record.params
        ) == {p.name for p in spec.parameters}
        record.in_spec = fits
        if fits:
            kept.append(record)
        else:
            retired += 1
    kept.sort(key=lambda t: t.index)
    for n, record in enumerate(kept):
        record.index = n
    return kept, Reconciliation(len(kept), 0, retired)


def _run_optuna(
    spec: SweepSpec,
    state: SweepState,
    records: list[TrialRecord],
    retry_failed: bool,
    limit: float,
    train_progress: bool,
    command_line: list[str] | None,
    emit: Log,
) -> int:
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _optuna_distributions(spec, optuna)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=spec.seed)
    )
    ran = 0
    total = max(spec.trials, len(records))

    def tell(record: TrialRecord) -> None:
        value = record.metric(spec.metric)
        study.add_trial(
            optuna.trial.create_trial(
                params=record.params,
                distributions=dists,
                value=value,
                state=optuna.trial.TrialState.COMPLETE
                if value is not None
                else optuna.trial.TrialState.FAIL,
            )
        )

    pending: list[TrialRecord] = []
    for record in records:
        if record.status == "done" or (record.status == "failed" and not retry_failed):
            tell(record)
        else:
            pending.append(record)
    for record in pending:  # interrupted or retried trials keep their values
        if ran >= limit:
            return ran
        ran += 1
        _announce(record.index + 1, total, record, emit)
        _run_one(spec, record, state, train_progress, command_line, emit)
        _report_trial(record.index + 1, total, record, records, spec.metric, emit)
        tell(record)
    while len(records) < spec.trials and ran < limit:
        asked = study.ask(fixed_distributions=dists)
        params = {p.name: asked.params[p.name] for p in spec.parameters}
        index = len(records)
        taken = {t.trial_id for t in state.trials}
        tid = trial_id(index, params)
        suffix = 2
        while tid in taken:
            tid = f"{trial_id(index, params)}-v{suffix}"
            suffix += 1
        record = TrialRecord(tid, index, params, trial_fingerprint(spec, params))
        records.append(record)
        state.trials.append(record)
        ran += 1
        _announce(index + 1, total, record, emit)
        _run_one(spec, record, state, train_progress, command_line, emit)
        _report_trial(index + 1, total, record, records, spec.metric, emit)
        _report_eta(records, int(min(spec.trials - len(records), limit - ran)), emit)
        value = record.metric(spec.metric)
        if value is None:
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(asked, value)
    return ran


def summarize_sweep(spec: SweepSpec | str | Path, *, log: Log | None = None) -> Summary:
    """Rebuild the summary of a sweep from its sweep.json (no training)."""
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    state = load_state(spec.out_dir)
    if spec.method == "optuna":
        _optuna_records(spec, state)
    else:
        reconcile(spec, state, plan_trials(spec))
    return write_summary(spec, state, log=log)
