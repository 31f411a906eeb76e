"""The summary files of a sweep: summary.csv, summary.md, summary.html, plots, compare page."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import GptlabError
from gptlab.fileio import atomic_write_bytes, atomic_write_text
from gptlab.mplstyle import plain_text
from gptlab.sweep.analysis import (
    ParameterEffect,
    curves_plot,
    effect_plot,
    effect_rows,
    parameter_effects,
    rank_trials,
)
from gptlab.sweep.page import summary_html
from gptlab.sweep.spec import ID_UNSAFE, Log, SweepSpec, format_value, stderr_log
from gptlab.sweep.state import STATUSES, SweepState, TrialRecord


@dataclass(frozen=True)
class Summary:
    """Where the summary files were written and the numbers in them."""

    out_dir: Path
    ranked: list[TrialRecord]
    """Done trials by metric (lowest first), then pending/running, then failed."""
    effects: list[ParameterEffect]
    files: list[Path]
    compare_page: Path | None
    compare_note: str


_COLUMNS = (
    ("val_loss", "val loss"),
    ("val_ppl", "val ppl"),
    ("val_acc", "val acc"),
    ("train_loss", "train loss"),
    ("gap", "gap"),
    ("best_val_loss", "best val"),
    ("steps", "steps"),
    ("wall_s", "wall s"),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _table_rows(spec: SweepSpec, ranked: list[TrialRecord]) -> tuple[list[str], list[list[str]]]:
    names = [p.name for p in spec.parameters]
    header = ["rank", "trial", *names, *(label for _, label in _COLUMNS), "status", "error"]
    rows = []
    for n, t in enumerate(ranked, start=1):
        rank = str(n) if t.metric(spec.metric) is not None else ""
        row = [rank, t.trial_id, *(format_value(t.params.get(k, "")) for k in names)]
        row += [_cell(t.results.get(key)) for key, _ in _COLUMNS]
        row += [t.status, (t.error or "").replace("\n", " ")]
        rows.append(row)
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _try_compare(spec: SweepSpec, ranked: list[TrialRecord]) -> tuple[Path | None, str]:
    done = [spec.trials_dir / t.trial_id for t in ranked if t.status == "done"]
    if not done:
        return None, "no finished trials to compare"
    try:
        from gptlab.report import compare_runs
    except ImportError:
        return None, "the compare page needs gptlab.report.compare_runs, not available here"
    out = spec.out_dir / "compare"
    try:
        result = compare_runs(done, out)
    except GptlabError as exc:
        return None, f"compare page not written: {exc}"
    pages = [p for p in result.paths if p.suffix == ".html"]
    if not pages:
        return None, f"compare_runs wrote no HTML page in {out}"
    return pages[0], f"compare page: {pages[0]}"


def write_summary(spec: SweepSpec, state: SweepState, *, log: Log | None = None) -> Summary:
    """Write summary.md, summary.csv, summary.html and the plots into the sweep folder."""
    emit = log or stderr_log
    records = state.current
    ranked = rank_trials(records, spec.metric)
    points = {
        p.name: [
            (t.params[p.name], t.metric(spec.metric) or 0.0)
            for t in records
            if t.metric(spec.metric) is not None and p.name in t.params
        ]
        for p in spec.parameters
    }
    effects = parameter_effects(points, frozenset(p.name for p in spec.parameters if p.log))
    out = spec.out_dir
    files: list[Path] = []

    header, rows = _table_rows(spec, ranked)
    csv_buffer = io.StringIO()
    writer = csv.writer(csv_buffer)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(out / "summary.csv", csv_buffer.getvalue())
    files.append(out / "summary.csv")

    plots: dict[str, bytes] = {}
    with plain_text():
        for effect in effects:
            safe = ID_UNSAFE.sub("-", effect.name)
            plots[f"effect_{safe}.png"] = effect_plot(effect, spec.metric)
        curves = curves_plot(spec, ranked)
    if curves is not None:
        plots["curves.png"] = curves
    for name, data in plots.items():
        atomic_write_bytes(out / name, data)
        files.append(out / name)

    compare_page, compare_note = _try_compare(spec, ranked)
    counts = {s: sum(t.status == s for t in records) for s in STATUSES}
    status_line = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    ranking_lines = [
        f"{i}. {e.name}: spread {e.spread:.4f} (mean {spec.metric} by value: "
        + ", ".join(f"{v.label} -> {v.mean:.4f}" for v in e.values)
        + ")"
        for i, e in enumerate(effects, start=1)
    ]

    md = [f"# Sweep {spec.name}", ""]
    md.append(
        f"Spec `{spec.path}`, method {spec.method}, preset {spec.preset}, metric "
        f"`{spec.metric}` (lower is better). Trials: {len(records)} ({status_line})."
    )
    md += ["", "## Trials, best first", "", _markdown_table(header, rows), ""]
    md += ["## Which parameter mattered (spread of the mean metric across values)", ""]
    md += ranking_lines or ["No finished trials yet."]
    for effect in effects:
        md += ["", f"### {effect.name}", "", _markdown_table(*effect_rows(effect)), ""]
        md.append(f"![{effect.name}](effect_{ID_UNSAFE.sub('-', effect.name)}.png)")
    if curves is not None:
        md += ["", "## Curves", "", "![curves](curves.png)"]
    md += ["", f"Compare: {compare_note}.", ""]
    atomic_write_text(out / "summary.md", "\n".join(md))
    files.append(out / "summary.md")

    atomic_write_text(
        out / "summary.html",
        summary_html(
            spec,
            status_line,
            header,
            rows,
            effects,
            plots,
            ranking_lines,
            compare_page,
            compare_note,
        ),
    )
    files.append(out / "summary.html")
    emit(f"Summary written to {out / 'summary.md'} (and .csv, .html, plots); {compare_note}.")
    return Summary(out, ranked, effects, files, compare_page, compare_note)
