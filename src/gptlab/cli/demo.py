"""`gptlab demo`: the whole path on the built-in corpus in a few minutes on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer

from gptlab.cli.app import app, console, err_console


@app.command()
def demo(
    out: Path = typer.Option(
        Path("demo"),
        "--out",
        "-o",
        help="Folder for the demo's dataset (data/, reused on a second run) and run (run/).",
    ),
    stories: int = typer.Option(
        20_000, "--stories", min=100, help="Built-in stories to generate and train on."
    ),
    max_steps: int = typer.Option(
        1_200,
        "--max-steps",
        min=1,
        help="Training steps of 16 x 128 tokens; 1,200 take about 3 minutes on 2 CPU cores.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Prepare, analyse, train, evaluate, look inside the model (viz), generate and report, end
    to end, offline."""
    from gptlab.demo import run_demo

    result = run_demo(
        out, stories=stories, max_steps=max_steps, progress=progress, console=err_console
    )
    console.print(
        f"\nDone. val loss {result.val_loss:.3f}, perplexity {result.val_ppl:.2f}, "
        f"accuracy {result.val_acc:.1%}.\nOpen the report: [bold]{result.report_path}[/]\n"
        f"Inside the model: {result.viz_index}",
        soft_wrap=True,  # a path cut over two lines cannot be copied
    )
