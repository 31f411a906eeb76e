"""`gptlab viz`: one prompt through a trained run: token losses and guesses, attention, activations.

A thin wrapper over gptlab.report.viz.visualize_run that also prints the per-token table; the
trade-off it inherits is that the pictures are for one short text (prompts are cropped to their
first 128 tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from gptlab.cli.app import app, console
from gptlab.cli.options import Checkpoint, RunDir
from gptlab.report.formatting import fmt_float

if TYPE_CHECKING:
    from gptlab.report.inspect import Capture


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
    """Each prompt token's loss and the model's top-5 next-token guesses (printed and drawn),
    attention per layer and head with a head summary (entropy, previous-token and first-token
    scores), residual-stream norms, MLP activations, and a self-contained index.html."""
    from gptlab.report.viz import visualize_run

    result = visualize_run(
        run, prompt, checkpoint=checkpoint, layer=layer, head=head, out_dir=out, device=device
    )
    print_token_table(result.capture)
    console.print(f"{len(result.pictures)} pictures written; open:", highlight=False)
    console.print(str(result.index), highlight=False, soft_wrap=True)  # whole, to copy


def print_token_table(cap: Capture) -> None:
    """Each token's loss and the model's top next-token guesses, as a compact table."""
    from gptlab.report.inspect import token_rows

    piped = not console.is_terminal
    table = Table(
        title="Per-token loss (nats) and top next-token guesses",
        box=None if piped else box.SIMPLE_HEAD,
        header_style="" if piped else "bold",
        pad_edge=False,
    )
    table.add_column("#", justify="right")
    table.add_column("token")
    table.add_column("loss", justify="right")
    table.add_column("next guesses (p)", overflow="fold")
    for row in token_rows(cap):
        guesses = "  ".join(
            f"{'*' if actual else ''}{label} {_percent(prob)}"
            for label, prob, actual in row.next_guesses
        )
        # Text cells: a token such as "[b]" is shown as written, not read as rich markup.
        table.add_row(str(row.position), Text(row.token), fmt_float(row.loss, 2), Text(guesses))
    console.print(table, highlight=False)
    mean = cap.mean_loss
    note = "* marks the token that came next."
    if mean is not None:
        note = f"mean loss {mean:.3f} nats over {len(cap.tokens) - 1} tokens; {note}"
    console.print(note, highlight=False)


def _percent(prob: float) -> str:
    """A whole percentage, "<1%" for what would round to 0%."""
    return f"{prob:.0%}" if prob >= 0.005 else "<1%"
