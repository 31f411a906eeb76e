"""analysis.html: a dataset analysis on the shared page template, its plots inlined.

The data layer computes and writes the analysis; this module only renders it, and the commands
that run `analyze` pass `render_analysis_page` in, so data/ never imports report/.
"""

from __future__ import annotations

from gptlab.data.analysis_report import (
    columns_of,
    consistency_cells,
    consistency_rows,
    counting_sentence,
    fit_rows,
    overview_rows,
    top_lists,
    top_rows,
    warnings_of,
)
from gptlab.data.analysis_results import Analysis
from gptlab.report.pages import render_page

PLOT_TITLES = {
    "token_lengths.png": "Document lengths in tokens",
    "top_words.png": "Most frequent words",
    "train_val_top_words.png": "Train and val top words",
}


def render_analysis_page(analysis: Analysis, plots: dict[str, bytes]) -> str:
    """analysis.html: the same tables as analysis.md and the plots inlined."""
    columns = columns_of(analysis)
    stats = {**analysis.splits, "total": analysis.total}
    return render_page(
        "analysis.html",
        analysis=analysis,
        labels=[label for _key, label in columns],
        counting_sentence=counting_sentence(analysis),
        warnings=warnings_of(analysis),
        overview=overview_rows(stats, [key for key, _label in columns], analysis.counting),
        fits=fit_rows(analysis),
        tops=[(title, unit, top_rows(analysis, attr)) for title, unit, attr in top_lists(analysis)],
        consistency=[
            (label, consistency_cells(overlap))
            for label, overlap in (
                consistency_rows(analysis.consistency) if analysis.consistency else []
            )
        ],
        figures=[(png, PLOT_TITLES[name], _caption(analysis, name)) for name, png in plots.items()],
        nav=[("#text", "Text"), ("#fit", "Context"), ("#top", "Top lists"), ("#plots", "Plots")],
        footer=f"gptlab analyze {analysis.source}",
    )


def _caption(analysis: Analysis, name: str) -> str:
    if name == "token_lengths.png":
        return (
            "Share of documents per length bin (each split normalised to its own documents, so "
            "train and val compare even when val is small); dashed lines mark the context "
            "lengths that fall inside the data."
        )
    unit = "characters" if analysis.counting == "characters" else "words, stop words excluded"
    if name == "top_words.png":
        return f"Occurrences of the most frequent {unit}, all splits together."
    return f"Occurrences per 1,000 {unit.split(',')[0]} of each split; * = in one top list only."
