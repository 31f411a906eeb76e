"""`gptlab presets`: the table of model presets with their sizes and recipe defaults."""

from __future__ import annotations

import typer
from rich.table import Table

from gptlab.cli.app import app, console
from gptlab.errors import ConfigError
from gptlab.model.gpt import GPT2_VOCAB_SIZE, preset_summaries


@app.command()
def presets(
    vocab_size: int = typer.Option(
        GPT2_VOCAB_SIZE,
        "--vocab-size",
        help=f"Vocabulary size (tokens) used to count parameters. Default: {GPT2_VOCAB_SIZE} "
        "(GPT-2 BPE).",
        show_default=False,
    ),
) -> None:
    """List every model preset: shape, parameters, and the recipe it trains with."""
    if vocab_size < 1:
        raise ConfigError(f"--vocab-size {vocab_size} is invalid: give a positive token count.")
    rows = preset_summaries(vocab_size)
    table = Table(
        title=f"Model presets (parameters counted with a vocabulary of {vocab_size})",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("preset", no_wrap=True)  # names are what a user copies into --preset
    for column in ("L/H/C", "ffn", "ctx", "tied", "params", "non-emb", "lr", "batch"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.name,
            f"{row.n_layer}/{row.n_head}/{row.n_embd}",
            str(row.ffn_dim),
            str(row.context_length),
            "yes" if row.tie_weights else "no",
            f"{row.params.total / 1e6:.1f}",
            f"{row.params.non_embedding / 1e6:.1f}",
            f"{row.lr:g}",
            row.batch,
        )
    console.print(table)
    console.print(
        "L/H/C = layers/heads/width; params and non-emb in millions; "
        "batch per optimizer step (sequences or tokens)."
    )
    for row in rows:
        console.print(f"  [bold]{row.name}[/]: {row.description}", highlight=False)
