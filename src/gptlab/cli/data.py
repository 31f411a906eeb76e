"""`gptlab prepare`: turn a text source into a tokenized, sharded dataset folder.

A thin wrapper over gptlab.data.prepare.prepare; the one trade-off it inherits is that the
output appears only when complete, so a stopped run leaves nothing to resume (start it again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gptlab.cli.app import app, console


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
    vocab_size: int | None = typer.Option(
        None,
        "--vocab-size",
        help="Vocabulary size in ids for --tokenizer bpe (e.g. 4096). No default; bpe only.",
        show_default=False,
    ),
    tokenizer_dir: Path | None = typer.Option(
        None,
        "--tokenizer-dir",
        help=(
            "Folder with the GPT-2 BPE files (r50k_base.tiktoken) for offline use. "
            "Default: $GPTLAB_TOKENIZER_DIR, then tiktoken's own cache."
        ),
        show_default=False,
    ),
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
            "Share of documents (0 to 0.5) drawn into the val split when the source has none. "
            "Default: 0.01."
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
    text_field: str | None = typer.Option(
        None,
        "--text-field",
        help="Field holding the text in .jsonl/.parquet/hub records. Default: 'text'.",
        show_default=False,
    ),
    split_mode: str | None = typer.Option(
        None,
        "--split-mode",
        help=(
            "How a .txt file is cut into documents: auto, eot (<|endoftext|> ends each), blank "
            "(blank lines between), line (one per line) or wikitext (one per article). "
            "Default: auto (wikitext for wiki.*.raw, eot if the marker occurs, else blank)."
        ),
        show_default=False,
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        help="Text encoding of local files (e.g. latin-1). Default: utf-8.",
        show_default=False,
    ),
    errors: str | None = typer.Option(
        None,
        "--errors",
        help=(
            "What to do with bytes the encoding cannot decode: strict (stop with an error), "
            "replace or ignore. Default: strict."
        ),
        show_default=False,
    ),
    stories: int | None = typer.Option(
        None,
        "--stories",
        help="Number of stories of the built-in corpus. Default: 20000.",
        show_default=False,
    ),
    hub_config: str | None = typer.Option(
        None,
        "--hub-config",
        help="Configuration name of a Hugging Face dataset (e.g. wikitext-2-raw-v1). No default.",
        show_default=False,
    ),
    streaming: bool | None = typer.Option(
        None,
        "--streaming/--no-streaming",
        help="Stream a Hugging Face dataset instead of downloading it whole. Default: per dataset.",
        show_default=False,
    ),
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
    """
    from gptlab.data.prepare import prepare as prepare_dataset

    source_options: dict[str, Any] = {
        key: value
        for key, value in {
            "text_field": text_field,
            "split_mode": split_mode,
            "encoding": encoding,
            "errors": errors,
            "builtin_stories": stories,
            "hub_config": hub_config,
            "streaming": streaming,
        }.items()
        if value is not None
    }
    result = prepare_dataset(
        source,
        out,
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        tokenizer_dir=tokenizer_dir,
        min_tokens=min_tokens,
        max_tokens=max_tokens,
        val_fraction=val_fraction,
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
    console.print(
        f"{result.tokens_per_s:,.0f} tokens/s over {result.elapsed_s:.1f} s. "
        f"Dataset: {result.out_dir}"
    )
