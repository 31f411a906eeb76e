"""`gptlab analyze`: statistics of a dataset or raw source as tables, JSON, Markdown and PNGs.

A thin wrapper over gptlab.data.analyze.analyze; the trade-off it inherits is one streaming pass
with counters only, so word counts become approximate (and say so) on a corpus with millions of
distinct words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from gptlab.cli.app import app, console, err_console
from gptlab.cli.options import (
    Encoding,
    Errors,
    HubConfig,
    SplitMode,
    Stories,
    Streaming,
    TextField,
    TokenizerDir,
    VocabSize,
    given,
)

if TYPE_CHECKING:
    from gptlab.data.analyze import Analysis


@app.command()
def analyze(
    target: str = typer.Argument(
        ...,
        help=(
            "A prepared dataset folder (with meta.json), or a source as for `gptlab prepare`: "
            "'builtin', a .txt / .jsonl / .parquet file, a folder or glob of them, or a Hugging "
            "Face dataset name or alias."
        ),
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help=(
            "Folder for analysis.html, analysis.json, analysis.md and the plots. Default: "
            "<dataset>/analysis "
            "for a dataset, ./analysis-<source name> for a source. An earlier analysis there "
            "is replaced."
        ),
        show_default=False,
    ),
    context: list[int] | None = typer.Option(
        None,
        "--context",
        help=(
            "Context length in tokens; counts the documents longer than it. Repeat for several. "
            "Default: 256, 512 and 1024."
        ),
        show_default=False,
    ),
    top_k: int = typer.Option(
        20,
        "--top-k",
        help="Length of the top-word lists and of the train/val comparison (words). Default: 20.",
        show_default=False,
    ),
    tokenizer: str | None = typer.Option(
        None,
        "--tokenizer",
        help=(
            "For a raw source, the tokenizer that counts token lengths: gpt2, char, byte or bpe "
            "(needs --vocab-size). Default: gpt2 (the built-in corpus falls back to byte when "
            "the GPT-2 files are missing). A prepared dataset always uses its own tokenizer."
        ),
        show_default=False,
    ),
    tokenizer_dir: TokenizerDir = None,
    vocab_size: VocabSize = None,
    max_documents: int | None = typer.Option(
        None,
        "--max-documents",
        help="Read at most this many documents of each split. Default: all.",
        show_default=False,
    ),
    text_field: TextField = None,
    split_mode: SplitMode = None,
    encoding: Encoding = None,
    errors: Errors = None,
    stories: Stories = None,
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Seed of the built-in corpus. Default: 0.",
        show_default=False,
    ),
    hub_config: HubConfig = None,
    streaming: Streaming = None,
) -> None:
    """Dataset statistics: documents, sentences, words, vocabulary, top words, token lengths.

    Prints tables and writes analysis.html (tables and plots in one page), analysis.json,
    analysis.md, token_lengths.png, top_words.png and (with a val split)
    train_val_top_words.png. Text mostly in a script without spaces (Chinese, Japanese, Thai)
    is counted by characters instead of words.

    Examples:

      gptlab analyze data/builtin

      gptlab analyze builtin --stories 5000 --tokenizer byte

      gptlab analyze notes.txt --split-mode blank --context 128 --context 512
    """
    from gptlab.data.analyze import DEFAULT_CONTEXTS
    from gptlab.data.analyze import analyze as run_analysis
    from gptlab.report.analysis_page import render_analysis_page

    source_options = given(
        text_field=text_field,
        split_mode=split_mode,
        encoding=encoding,
        errors=errors,
        builtin_stories=stories,
        seed=seed,
        hub_config=hub_config,
        streaming=streaming,
    )
    result = run_analysis(
        target,
        out=out,
        contexts=tuple(context) if context else DEFAULT_CONTEXTS,
        top_k=top_k,
        tokenizer=tokenizer,
        tokenizer_dir=tokenizer_dir,
        vocab_size=vocab_size,
        max_documents=max_documents,
        progress=True,
        page=render_analysis_page,
        **source_options,
    )
    _print_analysis(result)


_TABLE_MIN_WIDTH = 48
"""Characters: wide enough that no table title wraps."""


def _print_analysis(result: Analysis) -> None:
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

    for warning in warnings_of(result):
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    columns = columns_of(result)
    labels = [label for _key, label in columns]
    stats = {**result.splits, "total": result.total}

    overview = Table(
        title=f"{result.name}: text statistics",
        caption=f"Token lengths in {result.tokenizer} tokens, EOS not counted. "
        + counting_sentence(result),
        min_width=_TABLE_MIN_WIDTH,
    )
    overview.add_column("statistic")
    for label in labels:
        overview.add_column(label, justify="right")
    for label, cells in overview_rows(stats, [key for key, _ in columns], result.counting):
        overview.add_row(label, *cells)
    console.print(overview)

    fits = Table(title="Documents longer than the context", min_width=_TABLE_MIN_WIDTH)
    fits.add_column("context (tokens)", justify="right")
    for label in labels:
        fits.add_column(label, justify="right")
    for context, cells in fit_rows(result):
        fits.add_row(context, *cells)
    console.print(fits)

    for title, unit, attribute in top_lists(result):
        if len(labels) > 2:  # train, val, total: the total column alone keeps the table narrow
            rows = [[cells[0], *cells[-2:]] for cells in top_rows(result, attribute)]
            shown = ["total"]
        else:
            rows, shown = top_rows(result, attribute), labels
        table = Table(title=f"{title}, top {result.top_k}")
        table.add_column("rank", justify="right")
        for label in shown:
            table.add_column(f"{label} {unit}")
            table.add_column("count", justify="right")
        for cells in rows:
            table.add_row(*cells)
        console.print(table)

    if result.consistency is None:
        console.print("Train/val consistency: no val split, not measured.")
    else:
        agreement = Table(
            title="Train/val consistency of the top-K lists", min_width=_TABLE_MIN_WIDTH
        )
        for name in ("top-K list", "K", "overlap", "Jaccard", "train only", "val only"):
            numeric = name in ("K", "overlap", "Jaccard")
            agreement.add_column(name, justify="right" if numeric else "left")
        for label, overlap in consistency_rows(result.consistency):
            agreement.add_row(label, *consistency_cells(overlap))
        console.print(agreement)
    console.print(
        f"{result.total.documents:,} documents in {result.elapsed_s:.1f} s "
        f"({result.documents_per_s:,.0f} documents/s). Written to {result.out_dir} "
        "(analysis.html, analysis.md, analysis.json, plots).",
        highlight=False,
        soft_wrap=True,
    )
