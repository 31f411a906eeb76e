"""The Hugging Face GPT2LMHeadModel format: config, weight names and layouts, tokenizer files.

Pure conversions between a gptlab GPT and a Hugging Face GPT-2 folder's contents; moving whole
runs in and out (`gptlab export`, `gptlab import-hf`) is gptlab.interop, built on these.

A Hugging Face GPT-2 folder is config.json + safetensors weights (+ tokenizer files). Only
safetensors and JSON are read, never pickle, so a folder from a stranger cannot run code. The one
trade-off: Hugging Face GPT-2 always has biases and an unpadded vocabulary, so exporting a
bias-free model writes zero biases, and importing pads the embedding with zero rows; the
numbers the two libraries compute stay the same.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gptlab.config import PRESETS, Config, ModelConfig, config_from_dict, preset_config
from gptlab.data.tokenizers import EOS_TEXT as GPT2_EOS_TEXT
from gptlab.errors import CheckpointError, ConfigError
from gptlab.jsonio import read_json_file

_LAYER_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
"""Per-block projections: nn.Linear (out, in) in gptlab, Conv1D (in, out) in Hugging Face."""
_LAYER_NORMS = ("ln_1", "ln_2")
_MASK_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")
"""Causal-mask buffers some Hugging Face checkpoints carry; they hold no learned numbers."""
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
"""Hugging Face activation names that compute the tanh GELU gptlab uses."""


# ---------------------------------------------------------------------------------------------
# Byte-level BPE files (vocab.json + merges.txt) from tiktoken-style ranks.


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte to a printable character.

    Printable Latin-1 bytes stand for themselves; the 68 others (controls, space, ...) are given
    the code points from 256 upwards in byte order, so no token text contains whitespace.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _bpe_last_merge(token: bytes, ranks: Mapping[bytes, int]) -> tuple[bytes, bytes]:
    """The pair whose merge produced `token`: run BPE with only the merges ranked below it."""
    limit = ranks[token]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_index, best_rank = -1, limit
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_index, best_rank = i, rank
        if best_index < 0:
            break
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    if len(parts) != 2:
        raise CheckpointError(
            f"The BPE ranks cannot rebuild token {token!r}: the tokenizer files are not a "
            "byte-level BPE (or are damaged). Point at intact GPT-2 files with --tokenizer-dir."
        )
    return parts[0], parts[1]


def byte_level_bpe_files(ranks: Mapping[bytes, int]) -> tuple[dict[str, int], list[str]]:
    """vocab.json mapping and merges.txt lines (rank order) from byte-sequence -> id ranks.

    In a tiktoken byte-level BPE the rank of a multi-byte token is its merge priority, so the
    merge list is every multi-byte token, in rank order, split where BPE would last join it.
    """
    to_char = bytes_to_unicode()

    def text(token: bytes) -> str:
        return "".join(to_char[b] for b in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges = []
    for token, _rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) > 1:
            left, right = _bpe_last_merge(token, ranks)
            merges.append(f"{text(left)} {text(right)}")
    return vocab, merges


def write_gpt2_tokenizer_files(
    directory: Path, ranks: Mapping[bytes, int], eos_id: int, model_max_length: int
) -> None:
    """Write vocab.json, merges.txt, tokenizer.json and the small files transformers reads."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, processors

    vocab, merges = byte_level_bpe_files(ranks)
    vocab[GPT2_EOS_TEXT] = eos_id
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    pairs = [(left, right) for left, _, right in (line.partition(" ") for line in merges)]
    fast = HFTokenizer(models.BPE(vocab=vocab, merges=pairs))
    fast.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    fast.decoder = decoders.ByteLevel()
    fast.post_processor = processors.ByteLevel(trim_offsets=False)
    fast.add_special_tokens([GPT2_EOS_TEXT])
    fast.save(str(directory / "tokenizer.json"))
    write_json(
        directory / "tokenizer_config.json",
        {
            "tokenizer_class": "GPT2Tokenizer",
            "model_max_length": model_max_length,
            "bos_token": GPT2_EOS_TEXT,
            "eos_token": GPT2_EOS_TEXT,
            "unk_token": GPT2_EOS_TEXT,
            "add_prefix_space": False,
        },
    )
    write_json(
        directory / "special_tokens_map.json",
        {"bos_token": GPT2_EOS_TEXT, "eos_token": GPT2_EOS_TEXT, "unk_token": GPT2_EOS_TEXT},
    )


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Configuration translation.


def hf_config_dict(model: ModelConfig, *, eos_id: int, bos_id: int | None = None) -> dict[str, Any]:
    """A GPT2Config (config.json) describing the same network as `model` (true, unpadded vocab)."""
    n_inner = model.hidden_dim if model.hidden_dim != 4 * model.n_embd else None
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": model.vocab_size,
        "n_positions": model.context_length,
        "n_ctx": model.context_length,
        "n_embd": model.n_embd,
        "n_layer": model.n_layer,
        "n_head": model.n_head,
        "n_inner": n_inner,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": model.dropout,
        "embd_pdrop": model.dropout,
        "attn_pdrop": model.attn_dropout,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "use_cache": True,
        "bos_token_id": eos_id if bos_id is None else bos_id,
        "eos_token_id": eos_id,
        "tie_word_embeddings": model.tie_weights,
        "torch_dtype": "float32",
    }


def _hf_int(hf: Mapping[str, Any], *names: str, where: Path) -> int:
    for name in names:
        value = hf.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise CheckpointError(
        f"{where} has no whole-number {' or '.join(names)}: it is not a GPT-2 config.json. "
        "Export the model with transformers' save_pretrained and try again."
    )


def _hf_optional_int(hf: Mapping[str, Any], name: str, where: Path) -> int:
    """A whole-number field that may be null or absent (0 then)."""
    value = hf.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(
            f"{where} sets {name}={value!r:.40}, not a whole number (or null): fix the field "
            "or save the model again with save_pretrained."
        )
    return value


def _hf_probability(hf: Mapping[str, Any], name: str, where: Path) -> float:
    value = hf.get(name) or 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CheckpointError(
            f"{where} sets {name}={value!r:.40}, not a number: fix the field or save the "
            "model again with save_pretrained."
        )
    return float(value)


def model_config_from_hf(
    hf: Mapping[str, Any], *, has_lm_head: bool, where: Path = Path("config.json")
) -> ModelConfig:
    """gptlab ModelConfig of a Hugging Face GPT-2 config.json; refuses what gptlab cannot run."""
    model_type = hf.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise CheckpointError(
            f"{where} describes a {model_type!r} model; gptlab imports only GPT-2 "
            "(model_type 'gpt2', GPT2LMHeadModel). Choose a GPT-2 checkpoint."
        )
    activation = hf.get("activation_function", "gelu_new")
    if activation not in _GELU_TANH:
        raise CheckpointError(
            f"{where} uses activation_function={activation!r}, but gptlab's MLP computes the "
            f"tanh GELU ({', '.join(_GELU_TANH)}); the logits would differ. Import a model "
            "trained with gelu_new."
        )
    for flag in ("scale_attn_by_inverse_layer_idx", "add_cross_attention"):
        if hf.get(flag):
            raise CheckpointError(
                f"{where} sets {flag}=true, which gptlab's GPT-2 does not implement; import a "
                "plain GPT-2 checkpoint (that flag false)."
            )
    if hf.get("scale_attn_weights", True) is False:
        raise CheckpointError(
            f"{where} sets scale_attn_weights=false; gptlab always scales attention by "
            "1/sqrt(head_dim). Import a plain GPT-2 checkpoint."
        )
    eps = hf.get("layer_norm_epsilon", 1e-5)
    if not isinstance(eps, int | float) or abs(float(eps) - 1e-5) > 1e-12:
        raise CheckpointError(
            f"{where} uses layer_norm_epsilon={eps!r}; gptlab's LayerNorm uses 1e-5 like GPT-2. "
            "Import a checkpoint trained with 1e-5."
        )
    n_embd = _hf_int(hf, "n_embd", "hidden_size", where=where)
    tie = bool(hf.get("tie_word_embeddings", True))
    if not tie and not has_lm_head:
        raise CheckpointError(
            f"{where} says tie_word_embeddings=false but the weights have no lm_head.weight: the "
            "output layer is missing. Save the model again with save_pretrained."
        )
    try:
        return ModelConfig(
            n_layer=_hf_int(hf, "n_layer", "num_hidden_layers", where=where),
            n_head=_hf_int(hf, "n_head", "num_attention_heads", where=where),
            n_embd=n_embd,
            ffn_dim=_hf_optional_int(hf, "n_inner", where),
            context_length=_hf_int(hf, "n_positions", "n_ctx", where=where),
            vocab_size=_hf_int(hf, "vocab_size", where=where),
            vocab_multiple=0,  # auto: padded on CUDA only, as gptlab train does
            tie_weights=tie,
            bias=True,
            dropout=_hf_probability(hf, "resid_pdrop", where),
            attn_dropout=_hf_probability(hf, "attn_pdrop", where),
        )
    except ConfigError as exc:
        raise CheckpointError(
            f"{where} describes a model gptlab cannot build: {exc} (n_positions is "
            "context_length, n_inner is ffn_dim). Fix config.json or import another model."
        ) from exc


def config_for_import(model: ModelConfig, out_run: Path, data_path: str | None = None) -> Config:
    """A whole gptlab Config around an imported model: the matching GPT-2 preset's recipe if any.

    data_path: the dataset the model was trained on, when known (an export records it).
    """
    base = Config()
    for name, preset in PRESETS.items():
        shape = preset.settings.get("model", {})
        if name.startswith("gpt2-") and all(
            shape.get(k) == getattr(model, k) for k in ("n_layer", "n_head", "n_embd")
        ):
            base = preset_config(name)
            break
    settings = {
        "model": {f: getattr(model, f) for f in ModelConfig.__dataclass_fields__},
        "run": {"out_dir": str(out_run)},
        **({"data": {"path": data_path}} if data_path else {}),
    }
    return config_from_dict(settings, base)


# ---------------------------------------------------------------------------------------------
# Weight mapping.


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


# ---------------------------------------------------------------------------------------------
# Reading a Hugging Face folder (safetensors + JSON only).


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
