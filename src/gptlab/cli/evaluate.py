"""`gptlab eval`: score a trained run on its val split, a raw text, HellaSwag or LAMBADA.

A thin wrapper over gptlab.evaluate.evaluate_run; the trade-off it inherits is that every call
loads the checkpoint and re-scores from scratch (results are merged into RUN/eval.json by key,
so a later call replaces only the scores it recomputes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gptlab.cli.app import app, console
from gptlab.cli.options import Checkpoint, Device, RunDir
from gptlab.evaluate import EVAL_FILE, evaluate_run

_COLUMNS = (
    ("loss", "loss (nats/tok)", "{:.4f}"),
    ("ppl", "ppl", "{:.3f}"),
    ("bits_per_byte", "bits/byte", "{:.4f}"),
    ("acc", "acc", "{:.2%}"),
    ("acc_top5", "acc top5", "{:.2%}"),
    ("acc_norm", "acc_norm", "{:.2%}"),
    ("tokens", "tokens", "{:,}"),
    ("count", "rows", "{:,}"),
)


_NORM_UNITS = {
    "chars": "characters (as lm-evaluation-harness)",
    "bytes": "UTF-8 bytes with its leading space",
}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    return fmt.format(value)


@app.command("eval")
def eval_command(
    run: RunDir,
    checkpoint: Checkpoint = "latest",
    data: Path | None = typer.Option(
        None,
        "--data",
        help=(
            "Prepared dataset folder whose split to score. Default: the run's training data "
            "(data.path in config.toml), used when no --text, --hellaswag or --lambada is given."
        ),
        show_default=False,
    ),
    split: str = typer.Option(
        "val",
        "--split",
        help="Split of the dataset: val or train. Default: val.",
        show_default=False,
    ),
    text: Path | None = typer.Option(
        None,
        "--text",
        help="Raw UTF-8 text file to score with sliding windows (e.g. wiki.valid.raw). No default.",
        show_default=False,
    ),
    stride: int | None = typer.Option(
        None,
        "--stride",
        help=(
            "Tokens between sliding-window starts, 1 to the context length; smaller = more "
            "context per token and slower. Default: context length / 2."
        ),
        show_default=False,
    ),
    documents: bool | None = typer.Option(
        None,
        "--documents/--stream",
        help=(
            "Score the split by documents (each from its start, no context across EOS, as "
            "document-mode training sees them) or as one stream of sliding windows. Default: "
            "documents for a run trained with data.batch_mode=document, else stream."
        ),
        show_default=False,
    ),
    batch_size: int = typer.Option(
        8, "--batch-size", help="Windows per forward pass. Default: 8.", show_default=False
    ),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        help="Score only the first N tokens of the split or --text. Default: all of them.",
        show_default=False,
    ),
    hellaswag: Path | None = typer.Option(
        None,
        "--hellaswag",
        help="HellaSwag jsonl in the original schema (ctx, endings, label). No default.",
        show_default=False,
    ),
    lambada: Path | None = typer.Option(
        None,
        "--lambada",
        help='LAMBADA jsonl, one {"text": ...} per line; the last word is the target. No default.',
        show_default=False,
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        help="Score only the first N rows of --hellaswag / --lambada. Default: all rows.",
        show_default=False,
    ),
    acc_norm: str = typer.Option(
        "chars",
        "--acc-norm",
        help=(
            "HellaSwag acc_norm length: chars (the ending's characters, as lm-evaluation-harness, "
            "so figures compare with published ones) or bytes (UTF-8 bytes of ' ' + ending). "
            "Default: chars."
        ),
        show_default=False,
    ),
    device: Device = "auto",
    as_json: bool = typer.Option(
        False, "--json", help="Print the results as JSON instead of a table. Default: table."
    ),
) -> None:
    """Loss, perplexity, bits per byte and next-token accuracy (sliding windows), HellaSwag
    (acc, acc_norm) and LAMBADA (last-word acc, ppl). Results are merged into RUN/eval.json."""
    results = evaluate_run(
        run,
        checkpoint=checkpoint,
        data=data,
        split=split,
        text=text,
        stride=stride,
        documents=documents,
        batch_size=batch_size,
        max_tokens=max_tokens,
        hellaswag=hellaswag,
        lambada=lambada,
        limit=limit,
        device=device,
        progress=not as_json,
        acc_norm=acc_norm,
    )
    if as_json:
        console.print_json(json.dumps(results))
        return
    step = next(iter(results.values()))["step"]
    # One column per evaluation: a few columns fit a narrow terminal, nine metrics would not.
    table = Table("metric", *results, title=f"{run} (step {step})", header_style="bold")
    for name, title, fmt in _COLUMNS:
        cells = [_cell(values.get(name), fmt) for values in results.values()]
        if any(cell != "-" for cell in cells):
            table.add_row(title, *cells)
    console.print(table)
    for key, values in results.items():
        if values.get("windows") == "documents":
            console.print(
                f"{key} scored by documents (each from its start, as document-mode training "
                "reads them); --stream scores it as one stream.",
                highlight=False,
                soft_wrap=True,
            )
    if "hellaswag" in results:
        convention = str(results["hellaswag"].get("acc_norm_convention"))
        units = _NORM_UNITS.get(convention, convention)
        console.print(
            f"HellaSwag acc_norm divides by the ending's {units}.",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"written to {run / EVAL_FILE}", highlight=False, soft_wrap=True)
