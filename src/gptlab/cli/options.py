"""Options that several commands share, declared once so their flags and help read the same.

Each is an Annotated type: a command writes `device: Device = "auto"`, and the default stays in
the signature where the reader looks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

RunDir = Annotated[
    Path,
    typer.Argument(
        help="Run folder written by `gptlab train` (holds checkpoints/).",
        metavar="RUN",
        show_default=False,
    ),
]
Checkpoint = Annotated[
    str,
    typer.Option(
        "--checkpoint",
        "-c",
        help="Which checkpoint: latest, best, a step number, step_N, or a folder. Default: latest.",
        show_default=False,
    ),
]
Device = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps. Default: auto.",
        show_default=False,
    ),
]

# ---- settings (train, config) --------------------------------------------------------------------

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML config file applied on top of the preset. Default: none.",
        show_default=False,
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override one field, e.g. --set optim.lr=3e-4 (repeatable; applied last; "
        "`gptlab config --list` lists the fields). Default: none.",
        show_default=False,
    ),
]

# ---- reading a source (prepare, analyze) --------------------------------------------------------

VocabSize = Annotated[
    int | None,
    typer.Option(
        "--vocab-size",
        help="Vocabulary size in ids for --tokenizer bpe (e.g. 4096). No default; bpe only.",
        show_default=False,
    ),
]
TokenizerDir = Annotated[
    Path | None,
    typer.Option(
        "--tokenizer-dir",
        help=(
            "Folder with the GPT-2 BPE files (r50k_base.tiktoken) for offline use. "
            "Default: $GPTLAB_TOKENIZER_DIR, then tiktoken's own cache."
        ),
        show_default=False,
    ),
]
TextField = Annotated[
    str | None,
    typer.Option(
        "--text-field",
        help="Field holding the text in .jsonl/.parquet/hub records. Default: 'text'.",
        show_default=False,
    ),
]
SplitMode = Annotated[
    str | None,
    typer.Option(
        "--split-mode",
        help=(
            "How a .txt file is cut into documents: auto, eot (<|endoftext|> ends each), blank "
            "(blank lines between), line (one per line) or wikitext (one per article). "
            "Default: auto (wikitext for wiki.*.raw, eot if the marker occurs, else blank)."
        ),
        show_default=False,
    ),
]
Encoding = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="Text encoding of local files (e.g. latin-1). Default: utf-8.",
        show_default=False,
    ),
]
Errors = Annotated[
    str | None,
    typer.Option(
        "--errors",
        help=(
            "What to do with bytes the encoding cannot decode: strict (stop with an error), "
            "replace or ignore. Default: strict."
        ),
        show_default=False,
    ),
]
Stories = Annotated[
    int | None,
    typer.Option(
        "--stories",
        help="Number of stories of the built-in corpus. Default: 20000.",
        show_default=False,
    ),
]
HubConfig = Annotated[
    str | None,
    typer.Option(
        "--hub-config",
        help="Configuration name of a Hugging Face dataset (e.g. wikitext-2-raw-v1). No default.",
        show_default=False,
    ),
]
Streaming = Annotated[
    bool | None,
    typer.Option(
        "--streaming/--no-streaming",
        help="Stream a Hugging Face dataset instead of downloading it whole. Default: per dataset.",
        show_default=False,
    ),
]


def given(**values: Any) -> dict[str, Any]:
    """The keyword arguments the user gave (None means "not given": the library's default)."""
    return {key: value for key, value in values.items() if value is not None}
