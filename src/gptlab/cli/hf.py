"""`gptlab export` and `gptlab import-hf`: move models between gptlab runs and Hugging Face folders.

Thin wrappers over gptlab.interop. The trade-off they inherit: only safetensors and JSON are
read, so a pickle-only Hugging Face folder must be converted once by the user before import.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer
from rich.markup import escape

from gptlab.cli.app import app, console, err_console


@app.command()
def export(
    run: Path = typer.Argument(
        ..., help="Run folder written by `gptlab train` (holds checkpoints/).", show_default=False
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder to create for the exported model. Required.",
        show_default=False,
    ),
    format: str = typer.Option(
        "hf",
        "--format",
        "-f",
        help="Output format: hf (Hugging Face GPT2LMHeadModel folder: config.json + "
        "model.safetensors + tokenizer files). Default: hf.",
        show_default=False,
    ),
    checkpoint: str | None = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="Which checkpoint: 'best', a step_N folder name or a step number. "
        "Default: the latest complete one.",
        show_default=False,
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace --out if it exists. Default: refuse.",
        show_default=False,
    ),
) -> None:
    """Export a trained run to a format other tools load (transformers' from_pretrained)."""
    from gptlab.interop import export_model, export_notes

    folder = export_model(run, out, format=format, checkpoint=checkpoint, overwrite=overwrite)
    for note in export_notes(folder):
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(f"Exported {run} to {folder}.", highlight=False)
    console.print(
        f"Load it with: transformers.GPT2LMHeadModel.from_pretrained({str(folder)!r})",
        highlight=False,
        soft_wrap=True,
    )


@app.command("import-hf")
def import_hf_command(
    source: str = typer.Argument(
        ...,
        help="Local Hugging Face GPT-2 folder (config.json + *.safetensors), or with --download "
        "a Hub model name such as openai-community/gpt2.",
        show_default=False,
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run folder to create. Required.", show_default=False
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace --out if it exists. Default: refuse.",
        show_default=False,
    ),
    tokenizer_dir: Path | None = typer.Option(
        None,
        "--tokenizer-dir",
        help="A gptlab tokenizer folder, or the folder with the GPT-2 BPE files "
        "(r50k_base.tiktoken) for a 50,257-id model. Default: the model folder's own "
        "gptlab_tokenizer/, then $GPTLAB_TOKENIZER_DIR and tiktoken's cache.",
        show_default=False,
    ),
    download: bool = typer.Option(
        False,
        "--download",
        help="Allow SOURCE to be a Hugging Face Hub name and download it (needs network and "
        "huggingface_hub). Default: local folders only, no network.",
        show_default=False,
    ),
) -> None:
    """Import a Hugging Face GPT2LMHeadModel as a gptlab run (for eval, generate, viz)."""
    from gptlab.interop import import_hf

    if download and not Path(source).is_dir():
        err_console.print(f"Downloading {source} from the Hugging Face Hub...", highlight=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = import_hf(
            source, out, overwrite=overwrite, tokenizer_dir=tokenizer_dir, download=download
        )
    for warning in caught:
        err_console.print(f"[yellow]warning:[/] {escape(str(warning.message))}", highlight=False)
    console.print(f"Imported {source} as the run {run}.", highlight=False)
    console.print(
        f'Try: gptlab generate {run} --prompt "Once upon a time"', highlight=False, soft_wrap=True
    )
