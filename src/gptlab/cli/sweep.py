"""`gptlab sweep`: run, resume, list or summarise a hyperparameter sweep from a TOML spec.

A thin wrapper over gptlab.sweep; the trade-off it inherits is that trials run one after another
in this process (resumable at any point, one device shared, no parallel trials).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from gptlab.cli.app import app, console, err_console
from gptlab.errors import GptlabError
from gptlab.sweep import (
    Summary,
    SweepInterrupted,
    load_spec,
    plan_trials,
    run_sweep,
    summarize_sweep,
    trial_config,
    trial_dir,
)


def _log(message: str) -> None:
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def _dry_run(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    console.print(
        f"Sweep {spec.name}: method {spec.method}, preset {spec.preset}, metric {spec.metric}, "
        f"output {spec.out_dir}",
        highlight=False,
    )
    if spec.method == "optuna":
        console.print(
            f"optuna chooses {spec.trials} trials one at a time from the results so far; "
            "there is no list to show in advance. Swept: "
            + ", ".join(p.name for p in spec.parameters),
            highlight=False,
        )
        return
    plans = plan_trials(spec)
    console.print(f"{len(plans)} planned trials:", highlight=False)
    for plan in plans:
        try:
            trial_config(spec, plan.params, trial_dir(spec, plan.trial_id))
            verdict = "ok"
        except GptlabError as exc:
            verdict = f"invalid config: {exc}"
        console.print(f"  {plan.trial_id}  {verdict}", highlight=False, soft_wrap=True)


def _print_summary(summary: Summary, metric: str) -> None:
    table = Table(title=f"Trials by {metric} (lower is better)")
    table.add_column("rank", justify="right")
    table.add_column("trial", overflow="fold", min_width=24)
    for column in (metric, "train loss", "gap"):
        table.add_column(column, justify="right")
    table.add_column("status", max_width=24, overflow="ellipsis", no_wrap=True)
    for n, record in enumerate(summary.ranked, start=1):
        value = record.metric(metric)
        gap = record.results.get("gap")
        train_loss = record.results.get("train_loss")
        table.add_row(
            str(n) if value is not None else "",
            Text(record.trial_id),
            f"{value:.4f}" if value is not None else "",
            f"{train_loss:.4f}" if isinstance(train_loss, float) else "",
            f"{gap:.4f}" if isinstance(gap, float) else "",
            Text(record.status if record.status != "failed" else f"failed: {record.error}"),
        )
    console.print(table)
    if summary.effects:
        console.print("Which parameter mattered (spread of the mean metric across its values):")
        for n, effect in enumerate(summary.effects, start=1):
            means = ", ".join(f"{v.label} -> {v.mean:.4f}" for v in effect.values)
            console.print(f"  {n}. {effect.name}: {effect.spread:.4f}  ({means})", highlight=False)
    console.print(f"Summary: {summary.out_dir / 'summary.html'}", highlight=False)


@app.command()
def sweep(
    spec_path: Path = typer.Argument(
        ...,
        metavar="SPEC.toml",
        help="Sweep spec (TOML): [sweep] settings, [base] overrides, [parameters] to vary.",
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
        help="List the planned trials (and which configs are invalid), then exit. Default: off.",
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
    """Run or resume a hyperparameter sweep: every trial in its own run folder, then a summary.

    Re-running the same spec resumes it: finished trials are kept, an interrupted one continues
    from its latest checkpoint. Ctrl-C stops after saving the state.
    """
    if dry_run:
        _dry_run(spec_path)
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
