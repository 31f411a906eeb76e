"""The PNG plots of a dataset analysis: token lengths, top words (or characters), train vs val.

Every number drawn comes from the Analysis record (analysis_results.py), the same one the tables
show. Token-length histograms are drawn as each split's share of its own documents per bin, so a
small val split overlays train, on a log axis when the tail spans orders of magnitude.

Trade-off: the x-axis ends at the longest document, so a context far beyond it does not squeeze
the bars into a sliver; such contexts are named in a line of text on the plot instead.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from gptlab.data.analysis_results import Analysis, SplitAnalysis, columns_of
from gptlab.mplstyle import plain_text

LONG_TAIL_RATIO = 4.0
"""The length histogram gets a log y-axis when the longest document is this many times the median
one: the few documents of a long tail would otherwise be invisible bars."""
_TRAIN_COLOR = "#3b6ea8"
_VAL_COLOR = "#e08a2c"
_CONTEXT_COLORS = ("#c0392b", "#8e44ad", "#16a085", "#7f8c8d", "#d35400")
_PLOT_DPI = 120
_THOUSANDS = "{x:,.0f}"
"""Tick label format: thousands separators, no decimals."""


def render_plots(analysis: Analysis) -> dict[str, bytes]:
    """PNG bytes by file name: token_lengths.png, top_words.png and, with val,
    train_val_top_words.png."""
    with plain_text():
        plots = {
            "token_lengths.png": _token_length_plot(analysis),
            "top_words.png": _top_words_plot(analysis),
        }
        if analysis.consistency is not None:
            plots["train_val_top_words.png"] = _train_val_plot(analysis)
    return plots


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_PLOT_DPI)
    return buffer.getvalue()


def _token_length_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.add_subplot()
    lengths = analysis.total.token_lengths
    assert lengths is not None  # analyze() refuses an empty corpus
    labels = dict(columns_of(analysis))
    # Splits share bin edges (see analyze); each is normalised to its own documents, so a small
    # val split is as visible as train and the two shapes compare directly.
    edges = np.zeros(1)
    for position, split in enumerate(analysis.splits):
        histogram = analysis.splits[split].histogram
        if histogram is None:
            continue
        edges = np.asarray(histogram.bin_edges)
        counts = np.asarray(histogram.counts, dtype=np.float64)
        share = counts / counts.sum()
        label = f"{labels[split]} ({_documents(analysis.splits[split].documents)})"
        if position == 0:  # train (or the only split): filled bars
            axes.bar(
                edges[:-1],
                share,
                width=np.diff(edges),
                align="edge",
                color=_TRAIN_COLOR,
                alpha=0.55,
                edgecolor="white",
                linewidth=0.5,
                label=label,
            )
        else:  # val: an outline over train's bars
            axes.stairs(share, edges, color=_VAL_COLOR, linewidth=1.8, label=label)
    axes.axvline(
        lengths.median,
        color="black",
        linestyle=":",
        linewidth=1.5,
        label=f"median length: {lengths.median:,.0f} tokens",
    )
    longest = float(edges[-1])
    beyond = []
    for index, fit in enumerate(analysis.total.longer_than_context):
        if fit.context_length > longest:
            beyond.append(f"{fit.context_length:,}")
            continue
        color = _CONTEXT_COLORS[index % len(_CONTEXT_COLORS)]
        label = (
            f"context {fit.context_length:,}: {fit.documents_longer:,} longer "
            f"({_percent(fit.percent_longer)})"
        )
        axes.axvline(fit.context_length, color=color, linestyle="--", linewidth=1.5, label=label)
    axes.set_xlim(0, max(longest, 1.0) * 1.02)
    log_scale = uses_log_scale(analysis)
    if log_scale:
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(FuncFormatter(_share))
        axes.yaxis.set_minor_formatter(NullFormatter())
    else:
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    xlabel = f"document length (tokens, {analysis.tokenizer} tokenizer, EOS not counted)"
    if beyond:
        xlabel += (
            f"\nNo document is longer than {longest:,.0f} tokens: "
            f"{'contexts' if len(beyond) > 1 else 'context'} {', '.join(beyond)} "
            f"{'lie' if len(beyond) > 1 else 'lies'} beyond the axis (0 documents longer)."
        )
    axes.set_xlabel(xlabel)
    scale = ", log scale" if log_scale else ""
    axes.set_ylabel(f"share of the split's documents per bin{scale}")
    axes.set_title(f"Token lengths of {analysis.name} ({_splits_label(analysis)})")
    axes.grid(axis="y", alpha=0.3)
    axes.xaxis.set_major_formatter(_THOUSANDS)
    figure.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    return _png(figure)


def uses_log_scale(analysis: Analysis) -> bool:
    """Whether the length histogram needs a log y-axis: a long tail (see LONG_TAIL_RATIO)."""
    lengths = analysis.total.token_lengths
    return lengths is not None and lengths.max >= LONG_TAIL_RATIO * max(lengths.median, 1.0)


def _share(value: float, _position: Any = None) -> str:
    """A share as a short percentage: 0.25 -> 25%, 0.001 -> 0.1%."""
    text = f"{100 * value:.3g}"
    return f"{text}%"


def _percent(value: float) -> str:
    """A percentage that never rounds a few documents to 0% or all-but-a-few to 100%."""
    if 0 < value < 0.1:
        return "<0.1%"
    if 99.9 < value < 100:
        return ">99.9%"
    return f"{value:.1f}%"


def _splits_label(analysis: Analysis) -> str:
    if len(analysis.splits) > 1:
        return " + ".join(analysis.splits)
    label = columns_of(analysis)[0][1]
    return "all documents, no val split" if label == "all" else f"{label} split, no val"


def _top_words_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure

    characters = analysis.counting == "characters"
    words = analysis.total.top_characters if characters else analysis.total.top_content_words
    height_in = max(3.0, 0.32 * len(words) + 1.4)
    figure = Figure(figsize=(8, height_in), layout="constrained")
    axes = figure.add_subplot()
    labels = [w for w, _ in words][::-1]
    counts = [c for _, c in words][::-1]
    bars = axes.barh(labels, counts, color=_TRAIN_COLOR)
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=3, fontsize=8)
    axes.set_xlim(0, max(counts, default=1) * 1.15)
    axes.xaxis.set_major_formatter(_THOUSANDS)
    unit = "characters" if characters else "words"
    axes.set_xlabel(f"occurrences ({unit})")
    axes.set_ylabel("character" if characters else "word")
    approximate = ", approximate" if analysis.total.approximate and not characters else ""
    kind = "characters" if characters else "words, stop words excluded"
    axes.set_title(
        f"Top {len(words)} {kind} of {analysis.name} ({_splits_label(analysis)}{approximate})"
    )
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _train_val_plot(analysis: Analysis) -> bytes:
    from matplotlib.figure import Figure

    train = analysis.splits["train"]
    val = analysis.splits["val"]
    assert analysis.consistency is not None
    overlap = analysis.consistency.content_words
    # Train's top list in order, then val-only words: every word of either top list is shown.
    words = list(analysis.consistency.per_1k_words)
    per_1k_train = [analysis.consistency.per_1k_words[w][0] for w in words]
    per_1k_val = [analysis.consistency.per_1k_words[w][1] for w in words]
    positions = np.arange(len(words))[::-1]
    bar_height = 0.4
    figure = Figure(figsize=(8.5, max(3.5, 0.36 * len(words) + 1.6)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(
        positions + bar_height / 2,
        per_1k_train,
        bar_height,
        color=_TRAIN_COLOR,
        label=f"train ({_amount(train, analysis.counting)})",
    )
    axes.barh(
        positions - bar_height / 2,
        per_1k_val,
        bar_height,
        color=_VAL_COLOR,
        label=f"val ({_amount(val, analysis.counting)})",
    )
    axes.set_yticks(positions)
    axes.set_yticklabels([w if w in overlap.shared else f"{w} *" for w in words])
    characters = analysis.counting == "characters"
    unit = "characters" if characters else "words"
    axes.set_xlabel(f"frequency (occurrences per 1,000 {unit} of the split)")
    axes.set_ylabel(f"{unit[:-1]} (* = in only one top list)")
    kind = "characters" if characters else "words, stop words excluded"
    axes.set_title(
        f"Train vs val top-{overlap.k} {kind}: overlap {overlap.overlap:.2f}, "
        f"Jaccard {overlap.jaccard:.2f}"
    )
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    return _png(figure)


def _amount(split: SplitAnalysis, counting: str) -> str:
    if counting == "characters":
        return f"{split.characters:,} characters"
    return f"{split.words:,} words"


def _documents(count: int) -> str:
    return f"{count:,} document" + ("" if count == 1 else "s")
