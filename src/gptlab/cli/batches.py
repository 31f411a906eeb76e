"""`gptlab batches`: the first training batches of a dataset, decoded: inputs beside targets.

A thin wrapper over gptlab.data.batch_preview.preview_batches, which uses the training loader
itself; the trade-off it inherits is that tokens are decoded one at a time (a character split
over several tokens shows as pieces).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gptlab.cli.app import app, console
from gptlab.config import BATCH_MODES, TrainConfig


@app.command()
def batches(
    data: Path = typer.Argument(
        ..., help="Prepared dataset folder (from `gptlab prepare`).", show_default=False
    ),
    mode: str = typer.Option(
        "random",
        "--mode",
        help=(
            f"How samples are cut, as data.batch_mode in training: {', '.join(BATCH_MODES)}. "
            "Default: random."
        ),
        show_default=False,
    ),
    context: int = typer.Option(
        8,
        "--context",
        help="Tokens per sample (model.context_length). Default: 8.",
        show_default=False,
    ),
    stride: int = typer.Option(
        0,
        "--stride",
        help="Sliding mode: tokens between window starts (data.stride); 0 = the context. "
        "Default: 0.",
        show_default=False,
    ),
    batch: int = typer.Option(
        2,
        "--batch",
        help="Samples per batch (train.micro_batch_size). Default: 2.",
        show_default=False,
    ),
    count: int = typer.Option(
        3, "--count", help="Batches to show. Default: 3.", show_default=False
    ),
    split: str = typer.Option(
        "train",
        "--split",
        help="Split to read: train or val. Default: train.",
        show_default=False,
    ),
    shuffle: bool = typer.Option(
        True,
        "--shuffle/--no-shuffle",
        help="Shuffle sliding windows and documents each epoch, as training does; --no-shuffle "
        "shows them in text order. Default: shuffle.",
        show_default=False,
    ),
    seed: int = typer.Option(
        TrainConfig().seed,
        "--seed",
        help=f"Data order seed (train.seed). Default: {TrainConfig().seed}, as training.",
        show_default=False,
    ),
) -> None:
    """Show the first batches training would draw: each sample's input tokens beside its
    targets (the input shifted one token left), decoded token by token.

    Examples:

      gptlab batches data/story --mode sliding --context 4 --stride 1 --batch 2 --no-shuffle

      gptlab batches data/builtin --mode document --context 32 --count 1
    """
    from gptlab.data.batch_preview import preview_batches

    previews = preview_batches(
        data,
        split=split,
        mode=mode,
        context_length=context,
        stride=stride,
        batch_size=batch,
        count=count,
        shuffle=shuffle,
        seed=seed,
    )
    order = "shuffled with seed " + str(seed) if shuffle and mode != "random" else "in text order"
    if mode == "random":
        order = f"random starts, seed {seed}"
    console.print(
        f"{split} split of {data}, {mode} windows ({order}): each target y[t] is the token "
        "after input x[t]. Tokens are separated by spaces; · is a space, ⏎ a newline, – a "
        "padded target that does not count in the loss.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for preview in previews:
        table = Table(
            title=f"batch {preview.index + 1}: {len(preview.samples)} samples x {context} tokens",
            show_lines=True,
        )
        table.add_column("#", justify="right")
        table.add_column("input x (ids, then text)")
        table.add_column("target y (ids, then text)")
        for row, sample in enumerate(preview.samples):
            targets = [
                piece if counts else "–"
                for piece, counts in zip(sample.target_pieces, sample.target_counts, strict=True)
            ]
            table.add_row(
                str(row),
                escape(f"{sample.input_ids}\n{' '.join(sample.input_pieces)}"),
                escape(f"{sample.target_ids}\n{' '.join(targets)}"),
            )
        console.print(table)
