"""Writing an analysis: analysis.json, analysis.md, analysis.html and the PNG plots, all or none.

Tables are built once as (label, cells) rows (overview_rows, fit_rows, top_rows,
consistency_rows) and shown by the terminal, the Markdown file and the HTML page alike. The HTML
page is rendered by gptlab.report.analysis_page (the shared report template, plots inlined), which
the caller passes in, so the data layer never imports the report layer.

Trade-off: a raw source read without a val split is labelled "all" (not "train"), so a split
that was never made is never named; a prepared dataset keeps its split names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gptlab.data.analysis_results import (
    Analysis,
    Consistency,
    SplitAnalysis,
    TopWordsOverlap,
    columns_of,
)
from gptlab.errors import DataError
from gptlab.fileio import atomic_directory, atomic_write_json, atomic_write_text

TINY_VAL_DOCUMENTS = 10
"""A val split with fewer documents than this gets a warning on the page: its figures are noisy."""


PageRenderer = Callable[[Analysis, dict[str, bytes]], str]
"""Renders analysis.html from the analysis and its PNGs (gptlab.report.analysis_page: pages are
the report layer's, and data/ never imports it)."""


def write_analysis(analysis: Analysis, out_dir: Path, page: PageRenderer | None = None) -> None:
    """Write analysis.json, analysis.md, the PNGs and, given a renderer, analysis.html into
    `out_dir`, all or nothing."""
    from gptlab.data.analysis_plots import render_plots

    check_out(out_dir)
    plots = render_plots(analysis)
    with atomic_directory(out_dir, overwrite=True) as tmp:
        atomic_write_json(tmp / "analysis.json", analysis.to_dict())
        atomic_write_text(tmp / "analysis.md", render_markdown(analysis))
        if page is not None:
            atomic_write_text(tmp / "analysis.html", page(analysis, plots))
        for name, png in plots.items():
            (tmp / name).write_bytes(png)
    analysis.out_dir = out_dir


def check_out(out_dir: Path) -> None:
    """Refuse to replace a folder that is not ours: only an empty one or an earlier analysis."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DataError(
                f"The output path {out_dir} is a file. Choose another --out (a folder)."
            )
        if any(out_dir.iterdir()) and not (out_dir / "analysis.json").is_file():
            raise DataError(
                f"The output folder {out_dir} exists and does not hold an earlier analysis, so "
                "analyze will not replace it. Choose another --out."
            )


# ------------------------------------------------------------------------------------ rows


def _stats(analysis: Analysis) -> dict[str, SplitAnalysis]:
    return {**analysis.splits, "total": analysis.total}


def _fmt_float(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def overview_rows(
    stats: dict[str, SplitAnalysis], columns: list[str], counting: str = "words"
) -> list[tuple[str, list[str]]]:
    """(label, one formatted cell per column) for the main statistics table."""

    def row(label: str, cell: Any) -> tuple[str, list[str]]:
        return label, [cell(stats[c]) for c in columns]

    def length(attribute: str, digits: int) -> Any:
        def cell(split: SplitAnalysis) -> str:
            if split.token_lengths is None:
                return "-"
            value = getattr(split.token_lengths, attribute)
            return f"{value:,}" if isinstance(value, int) else _fmt_float(value, digits)

        return cell

    def ratio(numerator: int, denominator: int, digits: int) -> str:
        return _fmt_float(numerator / denominator if denominator else 0.0, digits)

    if counting == "characters":
        text_rows = [
            row("characters (letters, no punctuation)", lambda s: f"{s.characters:,}"),
            row("characters / sentence", lambda s: ratio(s.characters, s.sentences, 2)),
            row("distinct characters", lambda s: f"{s.distinct_characters:,}"),
            row(
                "type-token ratio (characters)",
                lambda s: ratio(s.distinct_characters, s.characters, 4),
            ),
        ]
    else:
        text_rows = [
            row("words", lambda s: f"{s.words:,}"),
            row("words / sentence", lambda s: _fmt_float(s.avg_words_per_sentence)),
            row(
                "vocabulary (distinct words)",
                lambda s: f"{'>= ' if s.approximate else ''}{s.vocabulary_size:,}",
            ),
            row("type-token ratio", lambda s: _fmt_float(s.type_token_ratio, 4)),
        ]
    return [
        row("documents", lambda s: f"{s.documents:,}"),
        row("sentences", lambda s: f"{s.sentences:,}"),
        row("sentences / document", lambda s: _fmt_float(s.avg_sentences_per_document)),
        *text_rows,
        row("tokens (EOS not counted)", length("total_tokens", 0)),
        row("tokens / document: min", length("min", 0)),
        row("tokens / document: mean", length("mean", 1)),
        row("tokens / document: median", length("median", 1)),
        row("tokens / document: p90", length("p90", 1)),
        row("tokens / document: p99", length("p99", 1)),
        row("tokens / document: max", length("max", 0)),
    ]


def fit_rows(analysis: Analysis) -> list[tuple[str, list[str]]]:
    """(context, cells): documents longer than each context, per column."""
    stats = _stats(analysis)
    rows = []
    for index, context in enumerate(analysis.contexts):
        cells = []
        for key, _label in columns_of(analysis):
            fit = stats[key].longer_than_context[index]
            cells.append(f"{fit.documents_longer:,} ({fit.percent_longer:.2f}%)")
        rows.append((f"{context:,}", cells))
    return rows


def top_lists(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(title, unit, attribute of SplitAnalysis) of the top lists to show."""
    if analysis.counting == "characters":
        return [("Top characters", "character", "top_characters")]
    return [
        ("Top words (stop words excluded)", "word", "top_content_words"),
        ("Top words (all)", "word", "top_words"),
    ]


def top_rows(analysis: Analysis, attribute: str) -> list[list[str]]:
    """Rank, then (item, count) per column, for one top list."""
    stats = _stats(analysis)
    lists = [getattr(stats[key], attribute) for key, _label in columns_of(analysis)]
    rows = []
    for rank in range(max((len(items) for items in lists), default=0)):
        cells = [str(rank + 1)]
        for items in lists:
            item, count = items[rank] if rank < len(items) else ("", 0)
            cells += [item, f"{count:,}" if item else ""]
        rows.append(cells)
    return rows


def consistency_rows(consistency: Consistency) -> list[tuple[str, TopWordsOverlap]]:
    if consistency.unit == "characters":
        return [("characters", consistency.content_words)]
    return [
        ("stop words excluded", consistency.content_words),
        ("all words", consistency.all_words),
    ]


def consistency_cells(overlap: TopWordsOverlap) -> list[str]:
    return [
        str(overlap.k),
        f"{overlap.overlap:.2f}",
        f"{overlap.jaccard:.2f}",
        ", ".join(overlap.train_only) or "-",
        ", ".join(overlap.val_only) or "-",
    ]


def warnings_of(analysis: Analysis) -> list[str]:
    """What the reader must not miss: a tiny or missing val split."""
    val = analysis.splits.get("val")
    if val is None:
        return []
    if val.documents < TINY_VAL_DOCUMENTS:
        return [
            f"The val split holds only {val.documents:,} document(s) "
            f"({(val.token_lengths.total_tokens if val.token_lengths else 0):,} tokens): its "
            "statistics and the train/val comparison rest on very little text."
        ]
    return []


def counting_sentence(analysis: Analysis) -> str:
    if analysis.counting == "characters":
        return (
            "Counted by characters (the text is mostly in a script without spaces between "
            "words); sentences end at . ! ? and 。！？."
        )
    return "Counted by words (runs of letters and digits); sentences end at . ! ? and 。！？."


# ------------------------------------------------------------------------------------ markdown


def render_markdown(analysis: Analysis) -> str:
    """The analysis as Markdown tables."""
    columns = columns_of(analysis)
    labels = [label for _key, label in columns]
    stats = _stats(analysis)
    lines = [
        f"# Dataset analysis: {analysis.name}",
        "",
        f"Source: `{analysis.source}` ({analysis.kind}); token lengths counted with the "
        f"{analysis.tokenizer} tokenizer, EOS not counted. {counting_sentence(analysis)}",
        "",
    ]
    notes = [f"**Warning:** {w}" for w in warnings_of(analysis)] + analysis.notes
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    lines += ["## Text", "", _md_row(["statistic", *labels]), _md_row(["---"] * (len(labels) + 1))]
    rows = overview_rows(stats, [key for key, _label in columns], analysis.counting)
    lines += [_md_row([label, *cells]) for label, cells in rows]
    lines += [
        "",
        "## Documents longer than the context",
        "",
        _md_row(["context (tokens)", *labels]),
        _md_row(["---"] * (len(labels) + 1)),
    ]
    lines += [_md_row([context, *cells]) for context, cells in fit_rows(analysis)]
    for title, unit, attribute in top_lists(analysis):
        header = ["rank"]
        for label in labels:
            header += [f"{label} {unit}", "count"]
        lines += ["", f"## {title}", "", _md_row(header), _md_row(["---"] * len(header))]
        lines += [_md_row(cells) for cells in top_rows(analysis, attribute)]
    lines += ["", "## Train/val consistency", ""]
    if analysis.consistency is None:
        lines.append("No val split: consistency was not measured.")
    else:
        lines += [
            _md_row(["top-K list", "K", "overlap", "Jaccard", "train only", "val only"]),
            _md_row(["---"] * 6),
        ]
        for label, overlap in consistency_rows(analysis.consistency):
            lines.append(_md_row([label, *consistency_cells(overlap)]))
    lines += ["", "## Plots", "", "![token lengths](token_lengths.png)", ""]
    lines += ["![top words](top_words.png)"]
    if analysis.consistency is not None:
        lines += ["", "![train vs val top words](train_val_top_words.png)"]
    lines.append("")
    return "\n".join(lines)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
