"""The Hugging Face GPT2LMHeadModel format: config, weight names and layouts, tokenizer files.

Pure conversions between a gptlab GPT and a Hugging Face GPT-2 folder's contents; moving whole
runs in and out (`gptlab export`, `gptlab import-hf`) is gptlab.interop, built on these. This
module maps the weights (names, Conv1D layout, vocabulary padding) and exports every name of the
format: config.json is hf_config.py's, tokenizer files hf_tokenizer.py's, reading a folder
hf_folder.py's.

A Hugging Face GPT-2 folder is config.json + safetensors weights (+ tokenizer files). Only
safetensors and JSON are read, never pickle, so a folder from a stranger cannot run code. The one
trade-off: Hugging Face GPT-2 always has biases and an unpadded vocabulary, so exporting a
bias-free model writes zero biases, and importing pads the embedding with zero rows; the
numbers the two libraries compute stay the same.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from gptlab.config import ModelConfig
from gptlab.errors import CheckpointError
from gptlab.model.hf_config import config_for_import, hf_config_dict, model_config_from_hf
from gptlab.model.hf_folder import read_hf_folder
from gptlab.model.hf_tokenizer import (
    byte_level_bpe_files,
    bytes_to_unicode,
    write_gpt2_tokenizer_files,
    write_json,
)

__all__ = [
    "byte_level_bpe_files",
    "bytes_to_unicode",
    "config_for_import",
    "gptlab_state_dict",
    "hf_config_dict",
    "hf_state_dict",
    "model_config_from_hf",
    "read_hf_folder",
    "write_gpt2_tokenizer_files",
    "write_json",
]

_LAYER_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
"""Per-block projections: nn.Linear (out, in) in gptlab, Conv1D (in, out) in Hugging Face."""
_LAYER_NORMS = ("ln_1", "ln_2")
_MASK_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")
"""Causal-mask buffers some Hugging Face checkpoints carry; they hold no learned numbers."""


def hf_state_dict(
    state: Mapping[str, torch.Tensor], model: ModelConfig
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Hugging Face GPT2LMHeadModel tensors from a gptlab state dict, and notes on what changed.

    Pad rows are sliced off the embedding (and the untied head), Linear weights are transposed
    to Conv1D layout, and missing biases (bias=False models) are written as zeros.
    """
    vocab = model.vocab_size
    used: set[str] = set()
    notes: list[str] = []
    zero_biases = 0

    def take(name: str) -> torch.Tensor:
        if name not in state:
            raise CheckpointError(
                f"The checkpoint has no tensor {name!r}: it was not written by this version of "
                "gptlab's GPT model, so it cannot be mapped to Hugging Face names."
            )
        used.add(name)
        return state[name].detach().to(torch.float32)

    def bias_or_zero(name: str, width: int) -> torch.Tensor:
        nonlocal zero_biases
        if name in state:
            return take(name)
        zero_biases += 1
        return torch.zeros(width)

    out: dict[str, torch.Tensor] = {
        "transformer.wte.weight": take("transformer.wte.weight")[:vocab],
        "transformer.wpe.weight": take("transformer.wpe.weight"),
    }
    for i in range(model.n_layer):
        block = f"transformer.h.{i}"
        for norm in _LAYER_NORMS:
            out[f"{block}.{norm}.weight"] = take(f"{block}.{norm}.weight")
            out[f"{block}.{norm}.bias"] = bias_or_zero(f"{block}.{norm}.bias", model.n_embd)
        for linear in _LAYER_LINEARS:
            weight = take(f"{block}.{linear}.weight")  # (out, in)
            out[f"{block}.{linear}.weight"] = weight.t()  # (in, out), Conv1D layout
            out[f"{block}.{linear}.bias"] = bias_or_zero(f"{block}.{linear}.bias", weight.shape[0])
    out["transformer.ln_f.weight"] = take("transformer.ln_f.weight")
    out["transformer.ln_f.bias"] = bias_or_zero("transformer.ln_f.bias", model.n_embd)
    head = take("lm_head.weight")
    if not model.tie_weights:
        out["lm_head.weight"] = head[:vocab]
    leftover = sorted(set(state) - used)
    if leftover:
        raise CheckpointError(
            f"The checkpoint holds tensors with no Hugging Face counterpart ({', '.join(leftover)}"
            "): exporting would drop them. It was not written by gptlab's GPT-2 model."
        )
    if zero_biases:
        notes.append(
            f"The model has no biases (model.bias=false) but Hugging Face GPT-2 always has them: "
            f"wrote {zero_biases} all-zero bias tensors, which leave the outputs unchanged."
        )
    # safetensors wants every tensor contiguous and owning its own memory
    return {k: v.contiguous().clone() for k, v in out.items()}, notes


def _strip_hf_prefix(name: str) -> str:
    return name[len("transformer.") :] if name.startswith("transformer.") else name


def gptlab_state_dict(
    hf_tensors: Mapping[str, torch.Tensor], model: ModelConfig, where: Path = Path(".")
) -> dict[str, torch.Tensor]:
    """gptlab GPT tensors from Hugging Face GPT-2 tensors (with or without 'transformer.')."""
    tensors = {
        _strip_hf_prefix(k): v
        for k, v in hf_tensors.items()
        if not _MASK_BUFFER.fullmatch(_strip_hf_prefix(k))
    }
    _note_conversion(tensors, where)
    used: set[str] = set()

    def take(name: str) -> torch.Tensor:
        if name not in tensors:
            raise CheckpointError(
                f"The weights in {where} have no tensor {name!r} (nor 'transformer.{name}'): "
                "the folder is not a complete GPT-2 checkpoint. Save it again with "
                "save_pretrained(..., safe_serialization=True)."
            )
        used.add(name)
        return tensors[name].detach().to(torch.float32)

    def padded(weight: torch.Tensor) -> torch.Tensor:
        rows = model.padded_vocab_size - weight.shape[0]
        return torch.cat([weight, weight.new_zeros(rows, weight.shape[1])]) if rows else weight

    wte = take("wte.weight")
    if wte.shape[0] != model.vocab_size or wte.shape[1] != model.n_embd:
        raise CheckpointError(
            f"wte.weight in {where} has shape {tuple(wte.shape)} but config.json says "
            f"vocab_size={model.vocab_size}, n_embd={model.n_embd}: the config and the weights "
            "do not belong together."
        )
    out = {"transformer.wte.weight": padded(wte), "transformer.wpe.weight": take("wpe.weight")}
    for i in range(model.n_layer):
        for norm in _LAYER_NORMS:
            for kind in ("weight", "bias"):
                out[f"transformer.h.{i}.{norm}.{kind}"] = take(f"h.{i}.{norm}.{kind}")
        for linear in _LAYER_LINEARS:
            out[f"transformer.h.{i}.{linear}.weight"] = take(f"h.{i}.{linear}.weight").t()
            out[f"transformer.h.{i}.{linear}.bias"] = take(f"h.{i}.{linear}.bias")
    out["transformer.ln_f.weight"] = take("ln_f.weight")
    out["transformer.ln_f.bias"] = take("ln_f.bias")
    # a tied checkpoint may still carry a copy of the head; Hugging Face ignores it, and so do we
    head = take("lm_head.weight") if "lm_head.weight" in tensors else None
    if model.tie_weights or head is None:
        out["lm_head.weight"] = out["transformer.wte.weight"]
    else:
        out["lm_head.weight"] = padded(head)
    leftover = sorted(set(tensors) - used)
    if leftover:
        raise CheckpointError(
            f"The weights in {where} hold tensors gptlab's GPT-2 has no place for "
            f"({', '.join(leftover[:5])}{', ...' if len(leftover) > 5 else ''}): it is not a "
            "plain GPT2LMHeadModel (n_layer in config.json may be wrong)."
        )
    _check_shapes(out, model, where)
    return {k: v.contiguous() for k, v in out.items()}


def _note_conversion(tensors: Mapping[str, torch.Tensor], where: Path) -> None:
    """Warn when the weights are not float32: they are converted, which the user should know."""
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors.values()} - {"float32"})
    if dtypes:
        warnings.warn(
            f"The weights in {where} are stored as {', '.join(dtypes)}; gptlab keeps weights in "
            "float32, so the imported run holds them converted (exact for float16 and bfloat16) "
            "and its checkpoint is larger than the source.",
            stacklevel=3,
        )


def _check_shapes(out: Mapping[str, torch.Tensor], model: ModelConfig, where: Path) -> None:
    """Every tensor has the shape config.json's sizes give it (else load_state_dict would fail)."""
    from gptlab.model.gpt import GPT

    with torch.device("meta"):
        expected = GPT(model).state_dict()
    for name, tensor in out.items():
        want = expected.get(name)
        if want is None or tensor.shape == want.shape:
            continue
        # Report shapes as the file stores them: Conv1D (in, out) for the block projections.
        conv1d = any(name.endswith(f"{linear}.weight") for linear in _LAYER_LINEARS)
        found, needed = (tuple(t.shape)[:: -1 if conv1d else 1] for t in (tensor, want))
        raise CheckpointError(
            f"The tensor {name.removeprefix('transformer.')} in {where} has shape {found} but "
            f"config.json's sizes need {needed}: the config and the weights do not belong "
            "together. Save the model again with save_pretrained."
        )
