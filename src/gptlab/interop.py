"""A gptlab run to a Hugging Face GPT-2 folder and back: `gptlab export` and `gptlab import-hf`.

Built on gptlab.model.hf (the format and its trade-offs) and gptlab.train.checkpoint (the run).
Only safetensors and JSON are read, never pickle, so a folder from a stranger cannot run code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gptlab.data.tokenizers import EOS_TEXT as GPT2_EOS_TEXT
from gptlab.data.tokenizers import GPT2_VOCAB_SIZE
from gptlab.errors import CheckpointError, ConfigError
from gptlab.model.hf import (
    config_for_import,
    gptlab_state_dict,
    hf_config_dict,
    hf_state_dict,
    model_config_from_hf,
    read_hf_folder,
    write_gpt2_tokenizer_files,
    write_json,
)
from gptlab.outputs import HF_EXPORT, RUN, check_output

HF_FORMAT = "hf"
EXPORT_FORMATS = (HF_FORMAT,)
"""Formats `gptlab export` can write."""

GPTLAB_TOKENIZER_DIR = "gptlab_tokenizer"
"""Subfolder of an export holding the run's own gptlab tokenizer, so an import gets it back."""
EXPORT_INFO_FILE = "gptlab_export.json"
"""Written beside an export: where it came from and what changed on the way (notes)."""

# ---------------------------------------------------------------------------------------------
# Export: gptlab run -> Hugging Face folder.


def _refuse_existing(out: Path, overwrite: bool, what: str) -> None:
    if out.exists() and not overwrite:
        raise CheckpointError(
            f"{out} already exists: choose another {what} folder, or pass --overwrite "
            "(overwrite=True) to replace it."
        )
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out} exists and is not a folder: choose another {what} path.")


def export_hf(
    run_dir: str | Path,
    out: str | Path,
    *,
    checkpoint: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a run's checkpoint as a Hugging Face GPT2LMHeadModel folder; returns the folder.

    out gets config.json, model.safetensors, generation_config.json, the tokenizer files
    transformers reads (GPT-2 BPE: vocab.json + merges.txt + tokenizer.json; a trained BPE:
    tokenizer.json; char/byte: none, see the notes), gptlab_tokenizer/ (the run's own tokenizer,
    so `import_hf` gets it back) and gptlab_export.json (source, step and notes). The folder
    appears only when complete. checkpoint: None = latest, "best", "step_000123" or a number.
    """
    from safetensors.torch import save_file

    from gptlab.fileio import atomic_directory
    from gptlab.train.checkpoint import load_run

    target = Path(out)
    check_output(target, HF_EXPORT, overwrite=overwrite, inputs=[Path(run_dir)])
    _refuse_existing(target, overwrite, "--out")
    loaded = load_run(run_dir, checkpoint, device="cpu")
    model_cfg = loaded.config.model
    tokenizer = loaded.tokenizer
    tensors, notes = hf_state_dict(loaded.model.state_dict(), model_cfg)
    eos_id = int(tokenizer.eos_id)
    with atomic_directory(target, overwrite=overwrite) as tmp:
        write_json(tmp / "config.json", hf_config_dict(model_cfg, eos_id=eos_id))
        # transformers insists on the "format" metadata key of safetensors files
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json(
            tmp / "generation_config.json",
            {"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": eos_id},
        )
        notes += _export_tokenizer(tokenizer, tmp, model_cfg.context_length)
        tokenizer.save(tmp / GPTLAB_TOKENIZER_DIR)
        write_json(
            tmp / EXPORT_INFO_FILE,
            {
                "format": "gptlab-hf-export",
                "format_version": 1,
                "source_run": str(Path(run_dir).resolve()),
                "checkpoint": loaded.checkpoint_dir.name,
                "step": loaded.step,
                "tokenizer": tokenizer.spec(),
                "data_path": str(Path(loaded.config.data.path).resolve()),
                "notes": notes,
            },
        )
    return target


def _exported_data_path(src: Path) -> str | None:
    """The training dataset an export recorded, when that folder exists on this machine."""
    try:
        info = json.loads((src / EXPORT_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    path = info.get("data_path") if isinstance(info, dict) else None
    return path if isinstance(path, str) and Path(path).is_dir() else None


def export_notes(out: str | Path) -> list[str]:
    """The notes an export recorded in gptlab_export.json (what differs from a plain GPT-2)."""
    try:
        info = json.loads((Path(out) / EXPORT_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    notes = info.get("notes") if isinstance(info, dict) else None
    return [str(n) for n in notes] if isinstance(notes, list) else []


# ---------------------------------------------------------------------------------------------
# Import: Hugging Face folder -> gptlab run.


def _resolve_source(src: str | Path, download: bool) -> Path:
    """A local folder, or (download=True only) a Hub snapshot of a model name."""
    path = Path(src)
    if path.is_dir():
        return path
    if not download:
        raise CheckpointError(
            f"{src} is not a local folder. Give the folder of a Hugging Face GPT-2 model "
            "(config.json + *.safetensors); to fetch a model from the Hugging Face Hub by name "
            "instead, pass --download (it downloads, so it needs network access)."
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise CheckpointError(
            "--download needs the huggingface_hub package: pip install huggingface_hub, or "
            "download the folder yourself and give its path."
        ) from exc
    try:
        local = snapshot_download(
            repo_id=str(src), allow_patterns=["*.json", "*.safetensors", "*.txt"]
        )
    except Exception as exc:  # the Hub client raises many network and HTTP error types
        raise CheckpointError(
            f"Could not download {src} from the Hugging Face Hub ({type(exc).__name__}: {exc}). "
            "Check the model name and the network, or download the folder yourself."
        ) from exc
    return Path(local)


def import_hf(
    src_dir: str | Path,
    out_run: str | Path,
    *,
    overwrite: bool = False,
    tokenizer_dir: str | Path | None = None,
    download: bool = False,
) -> Path:
    """Turn a Hugging Face GPT-2 folder into a gptlab run folder; returns the run folder.

    Reads config.json and *.safetensors only (sharded through model.safetensors.index.json
    too); pickle files are refused. The run gets config.toml, tokenizer/, env.json and
    checkpoints/step_000000/ (a fresh optimizer state), so eval and generate work on it.
    Tokenizer: the folder's gptlab_tokenizer/ when it was written by `export_hf`, else a
    gptlab tokenizer folder given as tokenizer_dir, else GPT-2 BPE for a 50,257-id vocabulary
    (offline files from tokenizer_dir or $GPTLAB_TOKENIZER_DIR). download=True lets src_dir be
    a Hub model name that is then downloaded; without it nothing touches the network.
    """
    from gptlab.config import save_config
    from gptlab.fileio import atomic_directory, atomic_write_json
    from gptlab.model.gpt import GPT
    from gptlab.train.checkpoint import save_checkpoint
    from gptlab.train.optim import build_optimizer

    target = Path(out_run)
    _refuse_existing(target, overwrite, "--out")
    src = _resolve_source(src_dir, download)
    check_output(
        target,
        RUN,
        overwrite=overwrite,
        inputs=[src, Path(tokenizer_dir) if tokenizer_dir is not None else None],
    )
    hf_config, tensors = read_hf_folder(src)
    model_cfg = model_config_from_hf(
        hf_config, has_lm_head="lm_head.weight" in tensors, where=src / "config.json"
    )
    state = gptlab_state_dict(tensors, model_cfg, src)
    tokenizer = _import_tokenizer(src, model_cfg.vocab_size, tokenizer_dir)
    cfg = config_for_import(model_cfg, target, _exported_data_path(src))
    model = GPT(model_cfg)
    model.load_state_dict(state, strict=True)
    optimizer = build_optimizer(model, cfg.optim, "cpu")
    with atomic_directory(target, overwrite=overwrite) as tmp:
        save_config(cfg, tmp / "config.toml")
        tokenizer.save(tmp / "tokenizer")
        atomic_write_json(tmp / "env.json", _import_env(src, hf_config))
        save_checkpoint(tmp, 0, model, optimizer, {"tokens": 0, "epoch": 0}, config=cfg)
    return target


def _import_env(src: Path, hf_config: Mapping[str, Any]) -> dict[str, Any]:
    import datetime
    import platform

    from gptlab import __version__

    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "imported_from": {
            "format": "huggingface-gpt2",
            "path": str(src.resolve()),
            "name_or_path": hf_config.get("_name_or_path"),
            "transformers_version": hf_config.get("transformers_version"),
        },
        "versions": {
            "gptlab": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "device": "cpu",
        "command_line": None,
    }


# ---------------------------------------------------------------------------------------------
# Tokenizers on both sides.


def _export_tokenizer(tokenizer: Any, out: Path, context_length: int) -> list[str]:
    """Write the files transformers' AutoTokenizer reads; notes for kinds it has no format for."""
    from gptlab.data.tokenizers import BPE_MODEL_FILE

    kind = tokenizer.kind
    if kind == "gpt2":
        write_gpt2_tokenizer_files(out, tokenizer.mergeable_ranks, tokenizer.eos_id, context_length)
        return []
    if kind == "bpe":
        # the gptlab BPE file is a Hugging Face `tokenizers` JSON already: save it, copy it
        staging = out / GPTLAB_TOKENIZER_DIR
        tokenizer.save(staging)
        (out / "tokenizer.json").write_bytes((staging / BPE_MODEL_FILE).read_bytes())
        write_json(
            out / "tokenizer_config.json",
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": context_length,
                "bos_token": GPT2_EOS_TEXT,
                "eos_token": GPT2_EOS_TEXT,
            },
        )
        return []
    return [
        f"The run uses gptlab's {kind} tokenizer, which transformers has no tokenizer class for: "
        "no Hugging Face tokenizer files were written (the model itself loads). Encode text "
        f"with gptlab's tokenizer, saved in {GPTLAB_TOKENIZER_DIR}/ of the export."
    ]


def _import_tokenizer(src: Path, vocab_size: int, tokenizer_dir: str | Path | None) -> Any:
    """The gptlab tokenizer for an imported model, checked against its vocabulary size."""
    from gptlab.data.tokenizers import TOKENIZER_FILE, gpt2_tokenizer, load_tokenizer
    from gptlab.errors import GptlabError

    given = Path(tokenizer_dir).expanduser() if tokenizer_dir is not None else None
    saved = src / GPTLAB_TOKENIZER_DIR
    try:
        if given is not None and (given / TOKENIZER_FILE).is_file():
            tokenizer = load_tokenizer(given)
        elif (saved / TOKENIZER_FILE).is_file() and not (given is not None and _is_gpt2(saved)):
            tokenizer = load_tokenizer(saved)
        elif vocab_size == GPT2_VOCAB_SIZE or given is not None:
            tokenizer = gpt2_tokenizer(given)
        else:
            raise CheckpointError(
                f"{src} has a {vocab_size}-id vocabulary, not GPT-2's {GPT2_VOCAB_SIZE}, and no "
                f"gptlab tokenizer ({GPTLAB_TOKENIZER_DIR}/): gptlab cannot turn its ids into "
                "text. Pass --tokenizer-dir with a gptlab tokenizer folder (the tokenizer/ of "
                "the dataset or run the model was trained on)."
            )
    except CheckpointError:
        raise
    except GptlabError as exc:
        raise CheckpointError(f"The tokenizer for {src} could not be loaded: {exc}") from exc
    if tokenizer.vocab_size != vocab_size:
        raise CheckpointError(
            f"The {tokenizer.kind} tokenizer has {tokenizer.vocab_size} ids but the model in "
            f"{src} has vocab_size={vocab_size}: they do not belong together. Pass "
            "--tokenizer-dir with the tokenizer the model was trained with."
        )
    return tokenizer


def _is_gpt2(folder: Path) -> bool:
    """Whether a saved gptlab tokenizer folder is the GPT-2 kind (whose ranks live elsewhere)."""
    try:
        record = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("spec", {}).get("kind") == "gpt2"


def export_model(
    run_dir: str | Path,
    out: str | Path,
    *,
    format: str = HF_FORMAT,
    checkpoint: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a run in one of EXPORT_FORMATS (only "hf" today); see export_hf."""
    if format != HF_FORMAT:
        raise ConfigError(
            f"Unknown export format {format!r}. Valid formats: {', '.join(EXPORT_FORMATS)} "
            "(hf = Hugging Face GPT2LMHeadModel folder)."
        )
    return export_hf(run_dir, out, checkpoint=checkpoint, overwrite=overwrite)
