"""`gptlab prepare`: turn a text source into a tokenized, sharded dataset folder.

A thin wrapper over gptlab.data.prepare.prepare; the one trade-off it inherits is that the
output appears only when complete, so a stopped run leaves nothing to resume (start it again).
"""

from __future__ import annotations

from pathlib import Path

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


@app.command()
def prepare(
    source: str = typer.Argument(
        "builtin",
        help=(
            "What to tokenize: 'builtin' (the procedural story corpus, default), a local .txt / "
            ".jsonl / .parquet file or a folder of them, or a Hugging Face dataset name or alias "
            "(tinystories, wikitext-2, ...)."
        ),
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Dataset folder to create. Default: data/<source name>.",
        show_default=False,
    ),
    tokenizer: str = typer.Option(
        "gpt2",
        "--tokenizer",
        help=(
            "gpt2 (GPT-2 BPE, 50,257 ids, offline files from --tokenizer-dir or "
            "$GPTLAB_TOKENIZER_DIR), char (the corpus's characters), byte (256 byte values + EOS) "
            "or bpe (a BPE trained on this corpus; needs --vocab-size). Default: gpt2."
        ),
        show_default=False,
    ),
    vocab_size: VocabSize = None,
    tokenizer_dir: TokenizerDir = None,
    min_tokens: int = typer.Option(
        0,
        "--min-tokens",
        help="Drop documents with fewer tokens than this (EOS not counted). Default: 0 (keep all).",
        show_default=False,
    ),
    max_tokens: int = typer.Option(
        0,
        "--max-tokens",
        help="Drop documents with more tokens than this (EOS not counted). Default: 0 (no limit).",
        show_default=False,
    ),
    val_fraction: float = typer.Option(
        0.01,
        "--val-fraction",
        help=(
            "Share (0 to 0.5) that goes to the val split when the source has none: of the "
            "documents, or of the tokens with --split contiguous. A source with its own val "
            "split (NAME.val.txt beside NAME.train.txt, a dataset's validation split) keeps it. "
            "Default: 0.01."
        ),
        show_default=False,
    ),
    split: str = typer.Option(
        "auto",
        "--split",
        help=(
            "How val is carved out: documents (whole documents drawn by a seeded hash), "
            "contiguous (the last --val-fraction of the tokens, as nanoGPT's char data and "
            "80/20 splits of one text) or auto (contiguous for a single document, else "
            "documents). Default: auto."
        ),
        show_default=False,
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seed of the train/val draw and of the built-in corpus. Default: 0.",
        show_default=False,
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Encoding processes. Default: the number of CPUs; 1 encodes in this process.",
        show_default=False,
    ),
    text_field: TextField = None,
    split_mode: SplitMode = None,
    encoding: Encoding = None,
    errors: Errors = None,
    stories: Stories = None,
    hub_config: HubConfig = None,
    streaming: Streaming = None,
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an existing output folder (kept intact until the new one is complete).",
    ),
) -> None:
    """Tokenize a corpus into shards + meta.json: filter by length, split train/val, in parallel.

    Examples:

      gptlab prepare   (built-in stories, GPT-2 BPE, into data/builtin)

      gptlab prepare builtin --tokenizer char --out data/builtin-char

      gptlab prepare notes.txt --split-mode blank --tokenizer bpe --vocab-size 4096

      gptlab prepare tinystories --min-tokens 2 --max-tokens 256

      gptlab prepare story.txt --tokenizer char --val-fraction 0.2   (one text: last 20% is val)

      gptlab prepare poems.train.txt --tokenizer char   (val from poems.val.txt beside it)
    """
    from gptlab.data.prepare import prepare as prepare_dataset

    source_options = given(
        text_field=text_field,
        split_mode=split_mode,
        encoding=encoding,
        errors=errors,
        builtin_stories=stories,
        hub_config=hub_config,
        streaming=streaming,
    )
    result = prepare_dataset(
        source,
        out,
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        tokenizer_dir=tokenizer_dir,
        min_tokens=min_tokens,
        max_tokens=max_tokens,
        val_fraction=val_fraction,
        split=split,
        seed=seed,
        num_workers=workers,
        overwrite=overwrite,
        progress=True,
        **source_options,
    )
    table = Table(title=f"Prepared {result.out_dir}")
    for column in ("split", "documents", "dropped short", "dropped long", "tokens", "bytes"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, counts in result.splits.items():
        table.add_row(
            name,
            f"{counts.documents:,}",
            f"{counts.dropped_short:,}",
            f"{counts.dropped_long:,}",
            f"{counts.tokens:,}",
            f"{counts.bytes:,}",
        )
    console.print(table)
    console.print(f"val split: {result.val_source}.", highlight=False, soft_wrap=True)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(
        f"{result.tokens_per_s:,.0f} tokens/s over {result.elapsed_s:.1f} s. "
        f"Dataset: {result.out_dir}"
    )
