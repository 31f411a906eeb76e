"""A Hugging Face GPT-2 config.json and a gptlab ModelConfig, each from the other, and the whole
Config an imported model runs with.

Importing refuses every setting gptlab's GPT-2 computes differently (activation, attention
scaling, LayerNorm epsilon, cross-attention) rather than ignoring it, so an imported model's
logits are those of the original.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gptlab.config import PRESETS, Config, ModelConfig, config_from_dict, preset_config
from gptlab.errors import CheckpointError, ConfigError

_GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
"""Hugging Face activation names that compute the tanh GELU gptlab uses."""


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
