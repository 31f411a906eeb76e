"""Presets: a named model shape plus the training recipe that goes with it (`--preset`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptlab.config.io import config_from_dict
from gptlab.config.schema import Config
from gptlab.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    """A named model size with its recommended recipe (as section -> field -> value overrides)."""

    name: str
    description: str
    settings: dict[str, dict[str, Any]]


def _seed_recipe(
    batch_size: int, weight_decay: float, log: int, eval_: int
) -> dict[str, dict[str, Any]]:
    return {
        "data": {"batch_mode": "document"},
        "optim": {
            "lr": 1e-4,
            "min_lr": 1e-6,
            "weight_decay": weight_decay,
            "grad_clip": 0.5,
            "warmup_steps": 1000,
        },
        "train": {
            "batch_size": batch_size,
            "micro_batch_size": batch_size,
            "epochs": 5.0,
            "log_interval_steps": log,
            "eval_interval_steps": eval_,
            "sample_prompts": (
                "Once upon a time, there was a little girl named Lily who loved to play in "
                "the garden.",
            ),
            "sample_max_new_tokens": 100,
        },
    }


def _gpt2(n_layer: int, n_head: int, n_embd: int) -> dict[str, dict[str, Any]]:
    return {
        "model": {
            "n_layer": n_layer,
            "n_head": n_head,
            "n_embd": n_embd,
            "context_length": 1024,
            "tie_weights": True,
        },
        "optim": {"lr": 6e-4, "min_lr": 6e-5, "weight_decay": 0.1, "warmup_steps": 700},
        "train": {"micro_batch_size": 16, "tokens_per_step": 524288, "max_steps": 19073},
    }


def _merge(*parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for section, values in part.items():
            out.setdefault(section, {}).update(values)
    return out


def _seed_model(n_layer: int, n_embd: int, dropout: float) -> dict[str, dict[str, Any]]:
    return {
        "model": {
            "n_layer": n_layer,
            "n_head": n_layer,
            "n_embd": n_embd,
            "ffn_dim": 4 * n_embd,
            "context_length": 256,
            "tie_weights": False,
            "dropout": dropout,
        }
    }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny",
            "2 layers, 64 wide, ctx 64: tests and the CPU demo",
            {
                "model": {"n_layer": 2, "n_head": 2, "n_embd": 64, "context_length": 64},
                "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 20},
                "train": {"micro_batch_size": 16, "max_steps": 200, "eval_interval_steps": 50},
            },
        ),
        Preset(
            "seed-14m",
            "TinyStories study 14M: 4/4/128, ffn 512, untied",
            _merge(_seed_model(4, 128, 0.1), _seed_recipe(128, 0.03, 125, 5000)),
        ),
        Preset(
            "seed-29m",
            "TinyStories study 29M: 4/4/256, ffn 1024, untied",
            _merge(_seed_model(4, 256, 0.1), _seed_recipe(128, 0.03, 250, 5000)),
        ),
        Preset(
            "seed-49m",
            "TinyStories study 49M: 6/6/384, ffn 1536, untied",
            _merge(_seed_model(6, 384, 0.2), _seed_recipe(96, 0.05, 1000, 10000)),
        ),
        Preset(
            "nanogpt-30m",
            "nanoGPT-sized 6/6/384, ctx 512, tied",
            {
                "model": {
                    "n_layer": 6,
                    "n_head": 6,
                    "n_embd": 384,
                    "ffn_dim": 1536,
                    "context_length": 512,
                    "tie_weights": True,
                    "dropout": 0.1,
                },
                "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 200},
                "train": {"micro_batch_size": 64, "max_steps": 5000},
            },
        ),
        Preset("gpt2-124m", "GPT-2 small 12/12/768, ctx 1024, tied", _gpt2(12, 12, 768)),
        Preset("gpt2-350m", "GPT-2 medium 24/16/1024, ctx 1024, tied", _gpt2(24, 16, 1024)),
        Preset("gpt2-774m", "GPT-2 large 36/20/1280, ctx 1024, tied", _gpt2(36, 20, 1280)),
        Preset("gpt2-1.5b", "GPT-2 XL 48/25/1600, ctx 1024, tied", _gpt2(48, 25, 1600)),
    )
}


def preset_config(name: str) -> Config:
    """The full default config for a preset name."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}. Valid presets: {', '.join(PRESETS)}.")
    return config_from_dict(PRESETS[name].settings)
