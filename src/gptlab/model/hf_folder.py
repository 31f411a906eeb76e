"""Reading a local Hugging Face GPT-2 folder: config.json and its safetensors weights, one file or
shards listed in model.safetensors.index.json.

Only safetensors and JSON are read, never pickle, so a folder from a stranger cannot run code; a
folder with pickle weights only is refused with the one-line conversion to do where it is trusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gptlab.errors import CheckpointError
from gptlab.jsonio import read_json_file

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _weight_files(src: Path) -> list[Path]:
    """The safetensors files holding a folder's weights (sharded through an index, or single)."""
    index = src / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted({str(name) for name in weight_map.values()})
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"{index} is not a valid safetensors index (a JSON object with a 'weight_map' "
                f"table): {exc}. Save the model again with save_pretrained."
            ) from exc
        files = [src / name for name in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(
                f"{index} lists shards that are not in {src}: {', '.join(missing)}. "
                "Copy every model-*.safetensors file of the checkpoint into the folder."
            )
        return files
    if (src / "model.safetensors").is_file():
        return [src / "model.safetensors"]
    files = sorted(src.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in src.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{src} holds only pickle weight files ({', '.join(pickles)}); gptlab refuses them "
            "for safety, because loading a pickle can run arbitrary code. Convert the model "
            "once where you trust it: GPT2LMHeadModel.from_pretrained(folder)."
            "save_pretrained(new_folder, safe_serialization=True), then import new_folder."
        )
    raise CheckpointError(
        f"{src} has no model weights (no *.safetensors file): point at a folder written by "
        "save_pretrained(..., safe_serialization=True)."
    )


def read_hf_folder(src: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """config.json and every weight tensor of a local Hugging Face GPT-2 folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(src)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder} is not a folder: give the local folder of a Hugging Face GPT-2 model "
            "(config.json + model.safetensors)."
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"{folder} has no config.json: it is not a Hugging Face model folder. Point at the "
            "folder written by save_pretrained."
        )
    hf_config = read_json_file(config_path, fix="Fix or replace it.", error=CheckpointError)
    if not isinstance(hf_config, dict):
        raise CheckpointError(f"{config_path} must hold a JSON object of GPT2Config fields.")
    tensors: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        try:
            tensors.update(load_file(str(path)))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(
                f"{path} is not a readable safetensors file ({exc}): it is truncated or "
                "damaged. Download or save it again."
            ) from exc
    return hf_config, tensors
