"""The summary files of a sweep: summary.csv, summary.md, summary.html, plots, compare page.

summary.csv holds every value in full (for a spreadsheet or pandas); summary.md and the page show
them formatted (sweep.numbers), drop columns no trial has a value in, link each trial to its
report.html, and show each trial's last samples beside its loss.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.errors import GptlabError
from gptlab.fileio import atomic_write_bytes, atomic_write_text
from gptlab.sweep.analysis import (
    Confounding,
    GridMatrix,
    ParameterEffect,
    confounded_pairs,
    effect_rows,
    grid_matrix,
    parameter_effects,
    rank_trials,
)
from gptlab.sweep.numbers import MISSING, format_result
from gptlab.sweep.page import SweepPage, TrialTable, summary_html
from gptlab.sweep.results import Sample, last_samples
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
    warnings: list[str]
    """Confounded parameters and other reasons to read the effects with care."""


RESULT_COLUMNS = (
    ("val_loss", "val loss"),
    ("val_ppl", "val ppl"),
    ("val_acc", "val acc"),
    ("train_loss", "train loss"),
    ("train_acc", "train acc"),
    ("gap", "gap"),
    ("best_val_loss", "best val loss"),
    ("steps", "steps"),
    ("trial_s", "trial time"),
)
"""Results shown per trial (key in TrialRecord.results, column title), when any trial has one.
The losses are RunSummary's (report and compare show the same); trial time is the whole trial's
wall clock as the sweep measured it (start-up, training, evaluation, report)."""


def _trial_table(spec: SweepSpec, ranked: list[TrialRecord]) -> TrialTable:
    names = [p.name for p in spec.parameters]
    shown = [
        (key, title)
        for key, title in RESULT_COLUMNS
        if any(t.results.get(key) is not None for t in ranked)
    ]
    any_error = any(t.error for t in ranked)
    header = ["rank", "trial", *names, *(title for _, title in shown), "status"]
    header += ["error"] if any_error else []
    rows, reports = [], []
    for n, t in enumerate(ranked, start=1):
        rank = str(n) if t.metric(spec.metric) is not None else ""
        row = [rank, t.trial_id, *(format_value(t.params.get(k, MISSING)) for k in names)]
        row += [format_result(key, t.results.get(key)) for key, _ in shown]
        row += [t.status] + ([(t.error or "").replace("\n", " ")] if any_error else [])
        rows.append(row)
        report = spec.trials_dir / t.trial_id / "report.html"
        reports.append(report.relative_to(spec.out_dir).as_posix() if report.is_file() else None)
    return TrialTable(
        header, rows, [t.trial_id for t in ranked], [t.status for t in ranked], reports
    )


def _csv_text(spec: SweepSpec, ranked: list[TrialRecord]) -> str:
    """Every trial with its values and results in full precision, one row each."""
    names = [p.name for p in spec.parameters]
    keys = [key for key, _ in RESULT_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "trial", *names, *keys, "status", "error"])
    for n, t in enumerate(ranked, start=1):
        rank = n if t.metric(spec.metric) is not None else ""
        values: list[Any] = [t.params.get(k, "") for k in names]
        results: list[Any] = [t.results.get(k, "") for k in keys]
        writer.writerow([rank, t.trial_id, *values, *results, t.status, t.error or ""])
    return buffer.getvalue()


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _heatmap_matrix(spec: SweepSpec, records: list[TrialRecord]) -> GridMatrix | None:
    """The grid of a sweep over exactly two parameters (the heatmap's numbers), else None."""
    if spec.method != "grid" or len(spec.parameters) != 2:
        return None
    first, second = (p.name for p in spec.parameters)
    return grid_matrix(records, first, second, spec.metric)


def _plot_name(effect: ParameterEffect) -> str:
    return f"effect_{ID_UNSAFE.sub('-', effect.name)}.png"


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
    from gptlab.report.figures import styled
    from gptlab.sweep.plots import (
        curves_plot,
        effect_plot,
        has_val_loss,
        heatmap_plot,
        trial_colors,
        trial_evals,
    )

    emit = log or stderr_log
    records = state.current
    ranked = rank_trials(records, spec.metric)
    done = [t for t in records if t.metric(spec.metric) is not None]
    points = {
        p.name: [
            (t.params[p.name], t.metric(spec.metric) or 0.0) for t in done if p.name in t.params
        ]
        for p in spec.parameters
    }
    effects = parameter_effects(points, frozenset(p.name for p in spec.parameters if p.log))
    confounded: list[Confounding] = confounded_pairs(
        [t.params for t in done], [p.name for p in spec.parameters]
    )
    warnings = [c.message() for c in confounded]
    out = spec.out_dir
    files: list[Path] = []

    atomic_write_text(out / "summary.csv", _csv_text(spec, ranked))
    files.append(out / "summary.csv")

    matrix = _heatmap_matrix(spec, records)
    plots: dict[str, bytes] = {}
    with styled():
        for effect in effects:
            plots[_plot_name(effect)] = effect_plot(effect, spec.metric)
        if matrix is not None and any(c is not None for row in matrix.cells for c in row):
            plots["heatmap.png"] = heatmap_plot(matrix, spec.metric)
        evals_of = trial_evals(spec, ranked)
        curves_have_val = has_val_loss(evals_of)
        if evals_of:  # finished trials with an evaluation to draw
            plots["curves.png"] = curves_plot(
                ranked, evals_of, trial_colors(records), curves_have_val
            )
    for name, data in plots.items():
        atomic_write_bytes(out / name, data)
        files.append(out / name)

    compare_page, compare_note = _try_compare(spec, ranked)
    counts = {s: sum(t.status == s for t in records) for s in STATUSES}
    status_line = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    table = _trial_table(spec, ranked)
    samples: dict[str, list[Sample]] = {
        t.trial_id: got
        for t in ranked
        if t.status == "done" and (got := last_samples(spec.trials_dir / t.trial_id))
    }
    ranking_lines = [
        f"{e.name}: spread {e.spread:.4f} (mean {spec.metric} by value: "
        + ", ".join(f"{v.label} -> {v.mean:.4f}" for v in e.values)
        + ")"
        for e in effects
    ]

    md = [f"# Sweep {spec.name}", ""]
    md.append(
        f"Spec `{spec.path}`, method {spec.method}, preset {spec.preset}, metric "
        f"`{spec.metric}` (lower is better). Trials: {len(records)} ({status_line})."
    )
    md += ["", "## Trials, best first", "", _markdown_table(table.header, table.rows), ""]
    md += [f"Warning: {w}" for w in warnings] + ([""] if warnings else [])
    md += ["## Which parameter mattered (spread of the mean metric across values)", ""]
    md += [f"{i}. {line}" for i, line in enumerate(ranking_lines, 1)] or ["No finished trials yet."]
    for effect in effects:
        md += ["", f"### {effect.name}", "", _markdown_table(*effect_rows(effect)), ""]
        md.append(f"![{effect.name}]({_plot_name(effect)})")
    if "heatmap.png" in plots:
        md += ["", f"## {spec.metric} of each combination", "", "![heatmap](heatmap.png)"]
    if "curves.png" in plots:
        md += ["", "## Curves", "", "![curves](curves.png)"]
    if samples:
        md += ["", "## Last samples", ""]
        for tid, got in samples.items():
            md += [f"### {tid} (step {got[0].step})", ""]
            md += [f"> **{s.prompt}**{s.text}".replace("\n", "\n> ") for s in got]
            md.append("")
    md += ["", f"Compare: {compare_note}.", ""]
    atomic_write_text(out / "summary.md", "\n".join(md))
    files.append(out / "summary.md")

    best = next((t for t in ranked if isinstance(t.results.get("sources"), dict)), None)
    sources = best.results["sources"] if best is not None else {}
    measured = [
        (key.replace("_", " "), str(sources[key]))
        for key in ("val_loss", "train_loss", "gap")
        if key in sources and sources[key] != "not measured"
    ]
    page = SweepPage(
        spec=spec,
        status_line=status_line,
        table=table,
        effects=effects,
        effect_plots={e.name: _plot_name(e) for e in effects},
        ranking_lines=ranking_lines,
        warnings=warnings,
        measured=measured,
        plots=plots,
        samples=samples,
        curves_have_val=curves_have_val,
        compare_page=compare_page,
        compare_note=compare_note,
    )
    atomic_write_text(out / "summary.html", summary_html(page))
    files.append(out / "summary.html")
    emit(f"Summary written to {out / 'summary.md'} (and .csv, .html, plots); {compare_note}.")
    return Summary(out, ranked, effects, files, compare_page, compare_note, warnings)
