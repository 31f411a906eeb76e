"""The terminal's view of runs: the summary at the end of `gptlab train` and compare's table.

Both print the headline numbers of report/summary.py with their sources, so the terminal, the
report and compare agree. Trade-off: a comparison too wide for the terminal is printed turned
(one column per run) rather than cut or wrapped into unreadable cells.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gptlab.report.compare import Comparison
from gptlab.report.formatting import fmt_count, fmt_duration, fmt_float, fmt_percent
from gptlab.report.summary import Measure, RunSummary


def _cell(m: Measure, digits: int = 4, percent: bool = False) -> str:
    if m.value is None:
        return "-"
    text = fmt_percent(m.value) if percent else fmt_float(m.value, digits)
    if m.stderr is not None:
        text += f" ± {100 * m.stderr:.1f}" if percent else f" ± {fmt_float(m.stderr, 3)}"
    return text


def run_summary_table(s: RunSummary) -> Table:
    """Headline numbers of a run, each with where it comes from."""
    table = Table(title=f"run {s.path}", show_header=False, title_justify="left")
    table.add_column("measure", style="bold", no_wrap=True)
    table.add_column("value", no_wrap=True, justify="right")
    table.add_column("from", style="dim")
    table.add_row("steps", fmt_count(s.steps), f"{fmt_count(s.tokens_seen)} tokens")
    for label, measure, digits, percent in (
        ("train loss", s.train_loss, 4, False),
        ("val loss", s.val_loss, 4, False),
        ("val perplexity", s.val_ppl, 2, False),
        ("val accuracy", s.val_acc, 1, True),
        ("gap", s.gap, 3, False),
        ("HellaSwag", s.benchmark("hellaswag"), 1, True),
        ("LAMBADA", s.benchmark("lambada"), 1, True),
    ):
        if measure.value is None and label in ("HellaSwag", "LAMBADA"):
            continue
        source = measure.source
        if s.worse_than_uniform(measure.value) and "loss" in label:
            source += f" · worse than uniform guessing (ln {s.vocab_size} = {s.uniform_loss:.3f})"
        table.add_row(label, _cell(measure, digits, percent), source)
    table.add_row("time", fmt_duration(s.wall_s), f"{fmt_count(s.tokens_per_s)} tokens/s median")
    return table


def print_run_summary(console: Console, s: RunSummary) -> None:
    """The table, then where the report and best checkpoint are and what to run next."""
    console.print(run_summary_table(s))
    best = _best_checkpoint(s.path)
    if best:
        console.print(f"best checkpoint: {best}", highlight=False, soft_wrap=True)
    if (s.path / "report.html").is_file():
        console.print(f"report: {s.path / 'report.html'}", highlight=False, soft_wrap=True)
    console.print(
        f'next: gptlab eval {s.path}  ·  gptlab generate {s.path} --prompt "Once upon a time"',
        highlight=False,
        soft_wrap=True,
    )


def _best_checkpoint(run: Path) -> str | None:
    try:
        record = json.loads((run / "checkpoints" / "best.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = record.get("checkpoint") if isinstance(record, dict) else None
    return str(run / "checkpoints" / name) if isinstance(name, str) else None


def comparison_table(c: Comparison, width: int) -> Table:
    """The comparison as one rich table: a row per run, or a column per run when too wide."""
    headers, cells = c.table()
    table = Table(*headers, title="Run comparison", header_style="bold", title_justify="left")
    for row in cells:
        table.add_row(*row)
    if Console(width=10_000).measure(table).maximum <= width:
        return table
    turned = Table("", *[row[1] for row in cells], title="Run comparison", title_justify="left")
    for i, header in enumerate(headers):
        if header != "run":
            turned.add_row(header, *[row[i] for row in cells])
    return turned
