"""The configuration tree: presets, TOML, typed overrides and validation messages."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gptlab.config import (
    PRESETS,
    SECTIONS,
    Config,
    apply_overrides,
    config_from_dict,
    config_hash,
    load_config,
    parse_override_value,
    preset_config,
    save_config,
)
from gptlab.errors import ConfigError


def test_every_preset_builds_and_validates() -> None:
    for name in PRESETS:
        cfg = preset_config(name)
        assert cfg.model.n_embd % cfg.model.n_head == 0


def test_seed_presets_follow_the_study() -> None:
    cfg = preset_config("seed-49m")
    assert (cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd) == (6, 6, 384)
    assert cfg.model.ffn_dim == 1536 and not cfg.model.tie_weights
    assert (cfg.optim.lr, cfg.optim.min_lr, cfg.optim.grad_clip) == (1e-4, 1e-6, 0.5)
    assert cfg.train.batch_size == 96 and cfg.train.epochs == 5.0


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="seed-14m"):
        preset_config("seed-15m")


def test_overrides_are_typed() -> None:
    cfg = apply_overrides(
        Config(),
        ["optim.lr=3e-4", "model.tie_weights=false", "train.sample_prompts=['a', 'b']"],
    )
    assert cfg.optim.lr == 3e-4
    assert cfg.model.tie_weights is False
    assert cfg.train.sample_prompts == ("a", "b")
    assert apply_overrides(cfg, ["run.out_dir=runs/x"]).run.out_dir == "runs/x"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("model.foo=1", "Valid fields of [model]: n_layer"),
        ("modle.n_layer=1", "Valid sections"),
        ("model.n_layer", "section.field=value"),
        ("model.n_layer=two", "whole number"),
        ("model.n_layer=2.5", "whole number"),
        ("model.dropout=1.5", "[0, 1)"),
        ("model.n_head=3", "not divisible"),
        ("optim.min_lr=1", "must not exceed"),
        ("train.precision=fp8", "choose one of"),
        ("train.device=tpu", "cuda:N"),
        ("model.tie_weights=maybe", "true or false"),
    ],
)
def test_bad_overrides_name_the_field_and_fix(override: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), [override])
    assert needle in str(info.value)


def test_contradictory_horizons_and_batches_are_rejected() -> None:
    with pytest.raises(ConfigError, match="both set"):
        apply_overrides(Config(), ["train.max_steps=10", "train.epochs=1"])
    with pytest.raises(ConfigError, match="both set"):
        apply_overrides(Config(), ["train.batch_size=8", "train.tokens_per_step=1024"])


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = apply_overrides(preset_config("seed-14m"), ["run.out_dir=runs/a", "optim.lr=2e-4"])
    path = tmp_path / "config.toml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert config_hash(load_config(path).model) == config_hash(cfg.model)


def test_bad_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\nn_layer = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(binary)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[modle]\nn_layer = 2\n")
    with pytest.raises(ConfigError, match="Unknown config section"):
        load_config(unknown)


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().model.n_layer = 3  # type: ignore[misc]


@given(st.integers(min_value=1, max_value=10_000))
def test_int_overrides_round_trip(value: int) -> None:
    cfg = apply_overrides(Config(), [f"train.micro_batch_size={value}"])
    assert cfg.train.micro_batch_size == value


@given(st.floats(min_value=1e-8, max_value=10, allow_nan=False))
def test_float_overrides_round_trip(value: float) -> None:
    cfg = apply_overrides(Config(), [f"optim.lr={value!r}", "optim.min_lr=0"])
    assert cfg.optim.lr == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_override_values_never_crash(text: str) -> None:
    parse_override_value(text)
    with contextlib.suppress(ConfigError):
        apply_overrides(Config(), [f"run.wandb_project={text}"])


def test_dict_without_sections_is_an_error() -> None:
    with pytest.raises(ConfigError):
        config_from_dict({"model": 3})


@pytest.mark.parametrize("name", ["tiny", "seed-14m", "gpt2-124m"])
def test_approx_num_params_is_the_model_size_within_one_percent(name: str) -> None:
    torch = pytest.importorskip("torch")
    from gptlab.model.gpt import GPT

    model_cfg = dataclasses.replace(preset_config(name).model, vocab_size=50257)
    with torch.device("meta"):
        built = sum(p.numel() for p in GPT(model_cfg).parameters())
    assert model_cfg.approx_num_params == pytest.approx(built, rel=0.01)


def test_every_field_is_listed_with_type_default_and_doc() -> None:
    from gptlab.config import list_fields

    fields = {f.name: f for f in list_fields()}
    assert len(fields) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values())
    assert all(f.doc for f in fields.values()), [n for n, f in fields.items() if not f.doc]
    lr = fields["optim.lr"]
    assert (lr.kind, lr.value) == ("float", 6e-4) and "learning rate" in lr.doc.lower()
    assert fields["train.sample_prompts"].kind == "list[str]"
    seeded = {f.name: f.value for f in list_fields(preset_config("seed-14m"))}
    assert seeded["optim.warmup_steps"] == 1000


def test_config_command_lists_fields_and_resolves_presets(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    from gptlab.cli import main

    assert main(["config", "--list", "--preset", "seed-14m"]) == 0
    out = capsys.readouterr().out
    assert "optim.warmup_steps = 1000 *" in out and "train.hellaswag_path" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert main(["config", "--preset", "tiny", "--set", "optim.lr=1e-3"]) == 0
    toml_text = capsys.readouterr().out
    saved = tmp_path / "c.toml"
    saved.write_text(toml_text)
    assert load_config(saved).optim.lr == 1e-3
    assert main(["config", "--set", "optim.nope=1"]) == 2
    assert "optim.nope" in capsys.readouterr().err


def test_greedy_training_samples_and_auto_padding_are_valid() -> None:
    cfg = config_from_dict({"train": {"sample_temperature": 0.0, "samples_per_prompt": 3}})
    assert cfg.train.sample_temperature == 0.0
    with pytest.raises(ConfigError, match="greedy"):
        config_from_dict({"train": {"sample_temperature": 1e-9}})
    with pytest.raises(ConfigError, match="samples_per_prompt"):
        config_from_dict({"train": {"samples_per_prompt": 0}})
    # vocab_multiple 0 = auto: a model built outside training pads to 64 (GPU-friendly).
    assert config_from_dict({"model": {"vocab_size": 100}}).model.padded_vocab_size == 128
