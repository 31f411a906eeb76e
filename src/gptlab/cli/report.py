"""`gptlab report` and `gptlab compare`: one run's report.html, and a table of several runs.

Thin wrappers over gptlab.report.write_report and gptlab.report.compare_runs; the trade-off they
inherit is that both redraw everything from the run folders on every call (seconds, not minutes).
"""

from __future__ import annotations

from pathlib import Path

import typer

from gptlab.cli.app import app, console
from gptlab.report import compare_runs, write_report
from gptlab.report.compare import COLUMNS_NOTE
from gptlab.report.records import DEFAULT_SMOOTHING
from gptlab.report.terminal import comparison_table


@app.command()
def report(
    run: Path = typer.Argument(
        ...,
        help="Run folder written by `gptlab train` (holds config.toml and metrics.jsonl).",
        show_default=False,
    ),
    smoothing: float = typer.Option(
        DEFAULT_SMOOTHING,
        "--smoothing",
        help="EMA weight of the smoothed train-loss line drawn over the raw one, from 0 (no "
        f"smoothing) to below 1 (TensorBoard's slider). Default: {DEFAULT_SMOOTHING}.",
        show_default=False,
    ),
) -> None:
    """Draw the run's training plots (RUN/plots/*.png) and write RUN/report.html.

    The page is one self-contained file (pictures embedded, no network) that opens offline.
    """
    path = write_report(run, smoothing)
    console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def compare(
    runs: list[Path] = typer.Argument(
        ...,
        help="Run folders written by `gptlab train`, or by `gptlab import-hf` and scored by "
        "`gptlab eval` (their eval.json numbers, no curves). One gives its summary row.",
        show_default=False,
    ),
    out: Path = typer.Option(
        Path("compare"),
        "--out",
        "-o",
        help="Folder for compare.csv, compare.md, compare.html and the overlay PNGs. "
        "Default: ./compare.",
        show_default=False,
    ),
    smoothing: float = typer.Option(
        DEFAULT_SMOOTHING,
        "--smoothing",
        help="EMA weight of the smoothed train-loss lines drawn over the faint raw ones, from 0 "
        f"(no smoothing) to below 1. Default: {DEFAULT_SMOOTHING}.",
        show_default=False,
    ),
) -> None:
    """Compare runs in one table (config fields that differ, parameters, steps, losses,
    accuracy, gap, bits per byte, eval.json results, time, throughput) and overlaid curves;
    ranked by val loss, or by bits per byte when the runs use different tokenizers."""
    comparison = compare_runs(runs, out, smoothing)
    console.print(comparison_table(comparison, console.width))
    console.print(comparison.note, highlight=False, soft_wrap=True)
    console.print(COLUMNS_NOTE, highlight=False, soft_wrap=True, style="dim")
    for path in comparison.paths:
        console.print(str(path), highlight=False, soft_wrap=True)
