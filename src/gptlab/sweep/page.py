"""The sweep summary page (summary.html), rendered by report.pages from templates/sweep.html.

The page is one self-contained file like report.html and compare.html (same base template and
stylesheet, pictures inlined as data: URIs); this module only gathers what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.sweep.analysis import ParameterEffect, effect_rows
from gptlab.sweep.results import Sample
from gptlab.sweep.spec import SweepSpec


@dataclass(frozen=True)
class TrialTable:
    """The trials table, formatted once for summary.md and the page."""

    header: list[str]
    rows: list[list[str]]
    trial_ids: list[str]
    statuses: list[str]
    reports: list[str | None]
    """Each trial's report.html relative to the sweep folder, when it exists."""


@dataclass(frozen=True)
class SweepPage:
    """Everything summary.html shows, already computed and formatted."""

    spec: SweepSpec
    status_line: str
    table: TrialTable
    effects: list[ParameterEffect]
    effect_plots: dict[str, str]
    """Parameter -> file name of its effect plot (a key of `plots`)."""
    ranking_lines: list[str]
    warnings: list[str]
    measured: list[tuple[str, str]]
    """(number, how it was measured) for the best trial, e.g. ("val loss", "2-batch estimate")."""
    plots: dict[str, bytes]
    """File name -> PNG bytes of every picture."""
    samples: dict[str, list[Sample]]
    """Trial id -> the samples of its last evaluation, for trials that have some."""
    curves_have_val: bool
    """Some trial has a val loss (else curves.png shows train loss alone)."""
    compare_page: Path | None
    compare_note: str


def _numeric_columns(header: list[str], first_result: int) -> list[bool]:
    """Which columns hold numbers (right-aligned): the results, not rank/trial/params/status."""
    return [
        first_result <= i < len(header) and h not in ("status", "error")
        for i, h in enumerate(header)
    ]


def summary_html(page: SweepPage) -> str:
    """The HTML text of summary.html."""
    from gptlab.report.pages import render_page

    spec = page.spec
    table = page.table
    first_result = 2 + len(spec.parameters)
    compare_link = None
    if page.compare_page is not None and page.compare_page.is_file():
        compare_link = page.compare_page.relative_to(spec.out_dir).as_posix()
    effects: list[dict[str, Any]] = []
    for effect in page.effects:
        header, rows = effect_rows(effect)
        effects.append(
            {
                "name": effect.name,
                "header": header,
                "rows": rows,
                "spread": f"{effect.spread:.4f}",
                "plot": page.plots[page.effect_plots[effect.name]],
            }
        )
    nav = [("#trials", "Trials"), ("#effects", "Effects")]
    if "heatmap.png" in page.plots:
        nav.append(("#heatmap", "Heatmap"))
    if "curves.png" in page.plots:
        nav.append(("#curves", "Curves"))
    if page.samples:
        nav.append(("#samples", "Samples"))
    nav.append(("#compare", "Compare"))
    return render_page(
        "sweep.html",
        name=spec.name,
        meta=[
            ("spec", str(spec.path)),
            ("method", spec.method),
            ("preset", spec.preset),
            ("metric", f"{spec.metric} (lower is better)"),
            ("trials", page.status_line or "none"),
            ("folder", str(spec.out_dir)),
        ],
        nav=nav,
        footer=f"gptlab sweep summary of {spec.path.name}; numbers in full in summary.csv.",
        metric=spec.metric,
        header=table.header,
        rows=list(zip(table.rows, table.statuses, table.reports, strict=True)),
        numeric=_numeric_columns(table.header, first_result),
        warnings=page.warnings,
        measured=page.measured,
        ranking=page.ranking_lines,
        effects=effects,
        heatmap=page.plots.get("heatmap.png"),
        curves=page.plots.get("curves.png"),
        curves_have_val=page.curves_have_val,
        samples=page.samples,
        compare_link=compare_link,
        compare_note=page.compare_note,
    )
