"""`gptlab viz`: attention heatmaps and activation pictures of a trained run on one prompt.

A thin wrapper over gptlab.report.inspect.visualize_run; the trade-off it inherits is that the
pictures are for short prompts (long ones are cropped to their first 64 tokens).
"""

from __future__ import annotations

from pathlib import Path

import typer

from gptlab.cli.app import app, console
from gptlab.cli.options import Checkpoint, RunDir


@app.command()
def viz(
    run: RunDir,
    prompt: str = typer.Option(
        ...,
        "--prompt",
        "-p",
        help="Text to run through the model (a sentence or two).",
        show_default=False,
    ),
    checkpoint: Checkpoint = "latest",
    layer: int | None = typer.Option(
        None,
        "--layer",
        help="Draw attention of this layer only (0-based). Default: every layer.",
        show_default=False,
    ),
    head: int | None = typer.Option(
        None,
        "--head",
        help="Draw only this head (0-based), one large heatmap per layer. Default: all heads.",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for the PNGs and index.html. Default: RUN/viz.",
        show_default=False,
    ),
    device: str = typer.Option(
        "cpu", "--device", help="cpu, cuda, cuda:N or mps. Default: cpu.", show_default=False
    ),
) -> None:
    """Attention heatmaps (every layer and head, token labels), residual-stream norms, attention
    output norms, MLP activation histograms and the most active neurons, plus a self-contained
    index.html."""
    from gptlab.report.inspect import visualize_run

    paths = visualize_run(
        run, prompt, checkpoint=checkpoint, layer=layer, head=head, out_dir=out, device=device
    )
    for path in paths:
        console.print(str(path), highlight=False, soft_wrap=True)
    console.print(str(paths[0].parent / "index.html"), highlight=False, soft_wrap=True)
