"""`gptlab sweep`: run, resume, check or summarise a hyperparameter sweep from a TOML spec.

A thin wrapper over gptlab.sweep; the trade-off it inherits is that trials run one after another
in this process (resumable at any point, one device shared, no parallel trials).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gptlab.cli.app import app, console, err_console
from gptlab.report.formatting import fmt_count
from gptlab.sweep import (
    Summary,
    SweepInterrupted,
    check_trials,
    load_spec,
    plan_trials,
    run_sweep,
    summarize_sweep,
)
from gptlab.sweep.check import EVAL_COST_OF_A_TRAINING_TOKEN, TrialCheck
from gptlab.sweep.numbers import format_duration, format_result

_HELP = (
    "Run or resume a hyperparameter sweep: every trial in its own run folder, then a summary."
    "\n\n"
    "Re-running the same spec resumes it: finished trials are kept, an interrupted one "
    "continues from its latest checkpoint. Ctrl-C stops after saving the state. "
    "--dry-run checks every trial as training would and estimates its time, training nothing."
    "\n\n"
    "Example: gptlab sweep examples/sweeps/lr_width.toml --dry-run"
)


def _log(message: str) -> None:
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def _dry_run(spec_path: Path, measure: bool) -> None:
    spec = load_spec(spec_path)
    console.print(
        f"Sweep {spec.name}: method {spec.method}, preset {spec.preset}, metric {spec.metric}, "
        f"output {spec.out_dir}",
        highlight=False,
        markup=False,
    )
    if spec.method == "optuna":
        console.print(
            f"optuna chooses {spec.trials} trials one at a time from the results so far; "
            "there is no list to check in advance. Swept: "
            + ", ".join(p.name for p in spec.parameters),
            highlight=False,
            markup=False,
        )
        return
    plans = plan_trials(spec)
    _log(f"Checking {len(plans)} planned trials as `gptlab train` would ...")
    checks = check_trials(spec, plans, measure=measure, log=_log)
    _print_checks(checks, measure)


def _print_checks(checks: list[TrialCheck], measured: bool) -> None:
    table = Table(title=f"{len(checks)} planned trials, nothing trained")
    table.add_column("trial", overflow="fold")
    for name in ("params", "steps", "tokens"):
        table.add_column(name, justify="right")
    if measured:
        table.add_column("est. time", justify="right")
    table.add_column("check")
    reasons: dict[str, list[str]] = {}
    for check in checks:
        verdict = "ok"
        if check.error is not None:
            reasons.setdefault(check.error, []).append(check.plan.trial_id)
            verdict = f"FAILS ({list(reasons).index(check.error) + 1})"
        seconds = check.seconds
        cells: list[str | Text] = [
            Text(check.plan.trial_id),
            fmt_count(check.params),
            format_result("steps", check.steps),
            fmt_count(check.train_tokens),
        ]
        if measured:
            cells.append(format_duration(seconds) if seconds is not None else "-")
        table.add_row(*cells, verdict)
    console.print(table)
    for n, (reason, ids) in enumerate(reasons.items(), start=1):
        console.print(
            f"({n}) {', '.join(ids)}: {reason}", highlight=False, markup=False, soft_wrap=True
        )
    ok = [c for c in checks if c.error is None]
    if measured and ok:
        total = sum(c.seconds or 0.0 for c in ok)
        devices = sorted({c.device for c in ok})
        trials = f"{len(ok)} valid trial{'s' if len(ok) > 1 else ''}"
        console.print(
            f"Estimated time of the {trials}: about {format_duration(total)}. How: tokens to "
            f"train / training tokens per second measured just now on {', '.join(devices)} "
            "(about 2 s of training steps of each model shape, on random tokens); evaluation "
            f"tokens count {EVAL_COST_OF_A_TRAINING_TOKEN:.2g} of a training token; start-up, "
            "samples, checkpoints and the report are not counted.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if reasons:
        console.print(
            f"{len(checks) - len(ok)} of {len(checks)} trials would fail at their start: a run of "
            "the sweep records them as failed with these reasons. Fix the spec, or leave them.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _print_summary(summary: Summary, metric: str) -> None:
    table = Table(title=f"Trials by {metric} (lower is better)")
    table.add_column("rank", justify="right")
    table.add_column("trial", overflow="fold")
    columns = [metric] + [
        key
        for key in ("val_loss", "train_loss", "gap")
        if key != metric and any(r.results.get(key) is not None for r in summary.ranked)
    ]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    table.add_column("time", justify="right")
    show_status = any(r.status != "done" for r in summary.ranked)
    if show_status:
        table.add_column("status")
    for n, record in enumerate(summary.ranked, start=1):
        value = record.metric(metric)
        table.add_row(
            str(n) if value is not None else "",
            Text(record.trial_id),
            *(format_result(k, record.results.get(k)) for k in columns),
            format_result("trial_s", record.results.get("trial_s")),
            *([record.status] if show_status else []),
        )
    console.print(table)
    for record in summary.ranked:
        if record.status == "failed":
            console.print(
                f"failed: {record.trial_id}: {record.error}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    for warning in summary.warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    if summary.effects:
        console.print("Which parameter mattered (spread of the mean metric across its values):")
        for n, effect in enumerate(summary.effects, start=1):
            means = ", ".join(f"{v.label} -> {v.mean:.4f}" for v in effect.values)
            console.print(
                f"  {n}. {effect.name}: {effect.spread:.4f}  ({means})",
                highlight=False,
                markup=False,
            )
    console.print(f"Summary: {summary.out_dir / 'summary.html'}", highlight=False, markup=False)


@app.command(help=_HELP)
def sweep(
    spec_path: Path = typer.Argument(
        ...,
        metavar="SPEC.toml",
        help=escape("Sweep spec (TOML): [sweep] settings, [base] overrides, [parameters] to vary."),
        show_default=False,
    ),
    retry_failed: bool = typer.Option(
        False,
        "--retry-failed",
        help="Run trials recorded as failed again. Default: off (failed trials stay failed).",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help=(
            "Check every planned trial as training would (config, data long enough for the "
            "context, batch arithmetic), show its parameters and an estimated time, then exit. "
            "Default: off."
        ),
    ),
    no_timing: bool = typer.Option(
        False,
        "--no-timing",
        help="With --dry-run: skip the short timing of each model shape (no time estimate).",
    ),
    max_trials: int | None = typer.Option(
        None,
        "--max-trials",
        min=0,
        help="Train at most this many trials in this call (count of trials). Default: all.",
        show_default=False,
    ),
    summary_only: bool = typer.Option(
        False,
        "--summary-only",
        help="Rebuild summary.md/.csv/.html and the plots from sweep.json; train nothing.",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        help="Hide each trial's training progress bar (trial lines still show). Default: off.",
    ),
) -> None:
    if dry_run:
        _dry_run(spec_path, measure=not no_timing)
        return
    if summary_only:
        spec = load_spec(spec_path)
        _print_summary(summarize_sweep(spec, log=_log), spec.metric)
        return
    spec = load_spec(spec_path)
    try:
        result = run_sweep(
            spec,
            retry_failed=retry_failed,
            max_trials=max_trials,
            train_progress=not quiet,
            log=_log,
        )
    except SweepInterrupted as exc:
        err_console.print(str(exc), highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from exc
    if result.summary is not None:
        _print_summary(result.summary, spec.metric)
