"""Hugging Face interop: the same logits in transformers and gptlab, both ways, and safe loading."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from gptlab.config import Config, ModelConfig, RunConfig, load_config, save_config
from gptlab.data.tokenizers import (
    BPETokenizer,
    ByteTokenizer,
    CharTokenizer,
    Tokenizer,
    gpt2_tokenizer,
    load_tokenizer,
)
from gptlab.errors import CheckpointError, ConfigError, UnsafeFolderError
from gptlab.interop import GPTLAB_TOKENIZER_DIR, export_hf, export_model, export_notes, import_hf
from gptlab.model.gpt import GPT
from gptlab.model.hf import (
    byte_level_bpe_files,
    bytes_to_unicode,
    gptlab_state_dict,
    hf_config_dict,
    hf_state_dict,
    model_config_from_hf,
    read_hf_folder,
)
from gptlab.train.checkpoint import load_run, save_checkpoint
from gptlab.train.optim import build_optimizer

transformers = pytest.importorskip("transformers")

TINY = ModelConfig(n_layer=2, n_head=2, n_embd=32, context_length=16, vocab_size=70)
"""70 ids pad to 128 rows, so the pad slicing is exercised."""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _random_gptlab(cfg: ModelConfig, seed: int = 0) -> GPT:
    """A GPT with every tensor random (biases, LayerNorms), so no mapping hides behind 0 or 1."""
    torch.manual_seed(seed)
    model = GPT(cfg)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.2)
    return model.eval()


def _hf_model(hf_config: dict[str, object]) -> torch.nn.Module:
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(**hf_config)).eval()


def _ids(vocab_size: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab_size, (3, 12), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        dataclasses.replace(TINY, tie_weights=False),
        dataclasses.replace(TINY, ffn_dim=48, tie_weights=False),
        dataclasses.replace(TINY, bias=False),
    ],
    ids=["tied", "untied", "ffn48", "nobias"],
)
def test_exported_tensors_give_the_same_logits_in_transformers(cfg: ModelConfig) -> None:
    model = _random_gptlab(cfg)
    tensors, notes = hf_state_dict(model.state_dict(), cfg)
    hf = _hf_model(hf_config_dict(cfg, eos_id=cfg.vocab_size - 1))
    missing, unexpected = hf.load_state_dict(tensors, strict=False)
    assert unexpected == []
    # a tied export has no lm_head.weight: transformers ties it to wte itself
    assert [k for k in missing if not k.endswith("attn.bias")] == (
        ["lm_head.weight"] if cfg.tie_weights else []
    )
    if cfg.tie_weights:
        hf.tie_weights()
    assert tensors["transformer.wte.weight"].shape == (cfg.vocab_size, cfg.n_embd)
    assert ("lm_head.weight" in tensors) is (not cfg.tie_weights)
    assert bool(notes) is (not cfg.bias)
    ids = _ids(cfg.vocab_size)
    with torch.no_grad():
        ours, _ = model(ids)
        theirs = hf(ids).logits
    assert theirs.shape == ours.shape == (3, 12, cfg.vocab_size)
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tie", [True, False])
def test_imported_tensors_give_the_same_logits_in_gptlab(tie: bool) -> None:
    torch.manual_seed(3)
    hf_cfg = transformers.GPT2Config(
        vocab_size=100, n_positions=20, n_embd=24, n_layer=2, n_head=3, n_inner=40,
        tie_word_embeddings=tie, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    with torch.no_grad():
        for param in hf.parameters():
            param.normal_(0.0, 0.2)
    state = hf.state_dict()
    cfg = model_config_from_hf(hf_cfg.to_dict(), has_lm_head="lm_head.weight" in state)
    assert (cfg.vocab_size, cfg.padded_vocab_size, cfg.ffn_dim) == (100, 128, 40)
    assert cfg.context_length == 20 and cfg.tie_weights is tie
    model = GPT(cfg).eval()
    model.load_state_dict(gptlab_state_dict(state, cfg))
    ids = _ids(100)
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], hf(ids).logits, atol=1e-4, rtol=1e-4)
    # pad rows are zero, never random
    assert torch.count_nonzero(model.transformer.wte.weight[100:]) == 0


def test_export_then_import_restores_every_tensor() -> None:
    cfg = dataclasses.replace(TINY, tie_weights=False, ffn_dim=40)
    model = _random_gptlab(cfg)
    with torch.no_grad():
        model.transformer.wte.weight[cfg.vocab_size :] = 0.0  # pad rows cannot survive HF
        model.lm_head.weight[cfg.vocab_size :] = 0.0
    tensors, _ = hf_state_dict(model.state_dict(), cfg)
    hf_cfg = hf_config_dict(cfg, eos_id=0)
    back_cfg = model_config_from_hf(hf_cfg, has_lm_head=True)
    assert back_cfg == cfg
    back = gptlab_state_dict(tensors, back_cfg)
    original = model.state_dict()
    assert set(back) == set(original)
    for name, tensor in original.items():
        assert torch.equal(back[name], tensor), name


def test_unknown_or_missing_tensors_are_reported() -> None:
    cfg = TINY
    tensors, _ = hf_state_dict(_random_gptlab(cfg).state_dict(), cfg)
    extra = {**tensors, "transformer.h.2.ln_1.weight": torch.ones(32)}
    with pytest.raises(CheckpointError, match=r"h\.2\.ln_1\.weight"):
        gptlab_state_dict(extra, cfg)
    del tensors["transformer.h.1.mlp.c_fc.bias"]
    with pytest.raises(CheckpointError, match=r"h\.1\.mlp\.c_fc\.bias"):
        gptlab_state_dict(tensors, cfg)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"activation_function": "relu"}, "tanh GELU"),
        ({"model_type": "llama"}, "only GPT-2"),
        ({"layer_norm_epsilon": 1e-6}, "uses 1e-5"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
        ({"n_layer": None}, "n_layer"),
    ],
)
def test_configs_gptlab_cannot_run_are_refused(change: dict[str, object], message: str) -> None:
    hf_cfg = {**hf_config_dict(TINY, eos_id=0), **change}
    with pytest.raises(CheckpointError, match=message):
        model_config_from_hf(hf_cfg, has_lm_head=False)


def test_untied_config_without_head_is_refused() -> None:
    hf_cfg = hf_config_dict(dataclasses.replace(TINY, tie_weights=False), eos_id=0)
    with pytest.raises(CheckpointError, match=r"lm_head\.weight"):
        model_config_from_hf(hf_cfg, has_lm_head=False)


# ---------------------------------------------------------------------------------------------
# Reading folders: safetensors only, sharded or not.


def test_sharded_safetensors_folder_is_read_whole(tmp_path: Path) -> None:
    hf = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=90, n_positions=16, n_embd=32, n_layer=2, n_head=2)
    )
    hf.save_pretrained(tmp_path, safe_serialization=True, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    hf_cfg, tensors = read_hf_folder(tmp_path)
    assert hf_cfg["n_embd"] == 32
    expected = {k for k in hf.state_dict() if not k.endswith("attn.bias")} - {"lm_head.weight"}
    assert expected <= {k if k.startswith("transformer.") else f"transformer.{k}" for k in tensors}


def test_pickle_only_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(hf_config_dict(TINY, eos_id=0)))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded, ever")
    with pytest.raises(CheckpointError, match="pickle") as info:
        read_hf_folder(tmp_path)
    assert "safe_serialization=True" in str(info.value)


def test_missing_config_and_broken_weights_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"config\.json"):
        read_hf_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(hf_config_dict(TINY, eos_id=0)))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="safetensors"):
        read_hf_folder(tmp_path)
    with pytest.raises(CheckpointError, match="not a folder"):
        read_hf_folder(tmp_path / "absent")


# ---------------------------------------------------------------------------------------------
# GPT-2 tokenizer files derived from the tiktoken ranks.


def test_bytes_to_unicode_is_a_printable_bijection() -> None:
    mapping = bytes_to_unicode()
    assert sorted(mapping) == list(range(256))
    assert len(set(mapping.values())) == 256
    assert all(not ch.isspace() and ch.isprintable() for ch in mapping.values())
    assert mapping[ord("A")] == "A" and mapping[ord(" ")] == "Ġ"


def test_toy_ranks_give_merges_in_rank_order() -> None:
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({b"ab": 256, b"abc": 257, b"cab": 258, b"abab": 259})
    vocab, merges = byte_level_bpe_files(ranks)
    assert merges == ["a b", "ab c", "c ab", "ab ab"]
    assert vocab["abab"] == 259 and len(vocab) == 260


def test_gpt2_merges_match_the_released_vocab_bpe(gpt2_dir: Path) -> None:
    tiktoken_load = pytest.importorskip("tiktoken.load")
    ranks = tiktoken_load.load_tiktoken_bpe(str(gpt2_dir / "r50k_base.tiktoken"))
    vocab, merges = byte_level_bpe_files(ranks)
    released = (gpt2_dir / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]
    assert merges == [line for line in released if line]
    encoder = json.loads((gpt2_dir / "encoder.json").read_text(encoding="utf-8"))
    assert {**vocab, "<|endoftext|>": 50256} == encoder


# ---------------------------------------------------------------------------------------------
# Whole folders: a gptlab run <-> a Hugging Face folder.


def _make_run(
    run: Path, cfg: ModelConfig, tokenizer: Tokenizer | None = None, step: int = 5
) -> GPT:
    """A run folder as training leaves it: checkpoint, config.toml, tokenizer/."""
    tokenizer = tokenizer or ByteTokenizer()
    cfg = dataclasses.replace(cfg, vocab_size=tokenizer.vocab_size)
    config = Config(model=cfg, run=RunConfig(out_dir=str(run)))
    model = _random_gptlab(cfg)
    save_checkpoint(
        run, step, model, build_optimizer(model, config.optim, "cpu"), {}, config=config
    )
    save_config(config, run / "config.toml")
    tokenizer.save(run / "tokenizer")
    return model


def _logits(model: torch.nn.Module, vocab_size: int) -> torch.Tensor:
    with torch.no_grad():
        out = model(_ids(vocab_size))
    return out.logits if hasattr(out, "logits") else out[0]


@pytest.mark.parametrize(
    "cfg",
    [TINY, dataclasses.replace(TINY, tie_weights=False, ffn_dim=40, bias=False)],
    ids=["tied", "untied-ffn40-nobias"],
)
def test_exported_run_loads_in_transformers_with_equal_logits(
    tmp_path: Path, cfg: ModelConfig
) -> None:
    model = _make_run(tmp_path / "run", cfg)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    torch.testing.assert_close(_logits(hf, 257), _logits(model, 257), atol=1e-4, rtol=1e-4)
    hf_cfg = json.loads((out / "config.json").read_text())
    assert hf_cfg["vocab_size"] == 257 and hf_cfg["tie_word_embeddings"] is cfg.tie_weights
    assert hf_cfg["n_inner"] == (None if cfg.ffn_dim == 0 else 40)
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == 256
    notes = export_notes(out)
    assert any("byte tokenizer" in n for n in notes)
    assert any("zero bias" in n for n in notes) is (not cfg.bias)
    assert not (out / "tokenizer.json").exists()
    assert load_tokenizer(out / GPTLAB_TOKENIZER_DIR).kind == "byte"


def test_export_refuses_an_existing_folder_and_leaves_it_alone(tmp_path: Path) -> None:
    _make_run(tmp_path / "run", TINY)
    out = tmp_path / "hf"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="already exists"):
        export_hf(tmp_path / "run", out)
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(UnsafeFolderError, match="folder of other files; nothing was changed"):
        export_hf(tmp_path / "run", out, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    export_hf(tmp_path / "run", out, overwrite=True)
    assert (out / "model.safetensors").is_file()
    export_hf(tmp_path / "run", out, overwrite=True)  # an export replaces an export
    assert (out / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match="Valid formats: hf"):
        export_model(tmp_path / "run", tmp_path / "other", format="onnx")


def test_import_of_a_saved_transformers_model_gives_equal_logits(tmp_path: Path) -> None:
    torch.manual_seed(5)
    hf_cfg = transformers.GPT2Config(
        vocab_size=257, n_positions=24, n_embd=32, n_layer=2, n_head=4, tie_word_embeddings=False
    )
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    hf.save_pretrained(tmp_path / "hf", safe_serialization=True)
    tokenizer_dir = tmp_path / "tok"
    ByteTokenizer().save(tokenizer_dir)
    run = import_hf(tmp_path / "hf", tmp_path / "run", tokenizer_dir=tokenizer_dir)
    loaded = load_run(run)
    assert loaded.step == 0 and loaded.tokenizer.kind == "byte"
    assert loaded.config.model.tie_weights is False and loaded.config.model.padded_vocab_size == 320
    torch.testing.assert_close(_logits(loaded.model, 257), _logits(hf, 257), atol=1e-4, rtol=1e-4)
    env = json.loads((run / "env.json").read_text())
    assert env["imported_from"]["path"] == str((tmp_path / "hf").resolve())
    assert load_config(run / "config.toml").model == loaded.config.model


def test_import_without_a_usable_tokenizer_is_refused(tmp_path: Path) -> None:
    hf_cfg = transformers.GPT2Config(vocab_size=99, n_positions=8, n_embd=16, n_layer=1, n_head=2)
    transformers.GPT2LMHeadModel(hf_cfg).save_pretrained(tmp_path / "hf")
    with pytest.raises(CheckpointError, match="--tokenizer-dir"):
        import_hf(tmp_path / "hf", tmp_path / "run")
    ByteTokenizer().save(tmp_path / "tok")  # 257 ids for a 99-id model
    with pytest.raises(CheckpointError, match="do not belong together"):
        import_hf(tmp_path / "hf", tmp_path / "run", tokenizer_dir=tmp_path / "tok")
    assert not (tmp_path / "run").exists()


def test_hub_names_are_not_fetched_without_download(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="--download"):
        import_hf("openai-community/gpt2", tmp_path / "run")


def test_export_then_import_round_trip_keeps_weights_and_tokenizer(tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, tie_weights=False, ffn_dim=40)
    _make_run(tmp_path / "run", cfg, CharTokenizer("abc xyz"), step=7)
    export_hf(tmp_path / "run", tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "back")
    before, after = load_run(tmp_path / "run"), load_run(tmp_path / "back")
    assert after.tokenizer.spec() == before.tokenizer.spec()
    assert after.config.model == before.config.model
    vocab = before.config.model.vocab_size
    for name, tensor in before.model.state_dict().items():
        expected = (
            tensor[:vocab] if name in ("transformer.wte.weight", "lm_head.weight") else tensor
        )
        got = after.model.state_dict()[name]
        assert torch.equal(got[: expected.shape[0]], expected), name


def test_import_reads_a_sharded_folder(tmp_path: Path) -> None:
    model = _make_run(tmp_path / "run", TINY)
    export_hf(tmp_path / "run", tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf")
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    run = import_hf(
        tmp_path / "sharded", tmp_path / "back", tokenizer_dir=tmp_path / "run" / "tokenizer"
    )
    torch.testing.assert_close(
        _logits(load_run(run).model, 257), _logits(model, 257), atol=1e-5, rtol=1e-5
    )


def test_trained_bpe_exports_a_transformers_tokenizer(tmp_path: Path) -> None:
    texts = [f"The cat {i} sat on the mat and looked at bird number {i * 7}." for i in range(200)]
    tokenizer = BPETokenizer.train(texts, 300)
    _make_run(tmp_path / "run", TINY, tokenizer)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(out)
    text = "The cat 12 sat on the mat."
    assert fast.encode(text) == tokenizer.encode(text)
    assert fast.eos_token_id == tokenizer.eos_id
    import_hf(out, tmp_path / "back")
    assert load_run(tmp_path / "back").tokenizer.spec() == tokenizer.spec()


def test_gpt2_tokenizer_export_and_import(tmp_path: Path, gpt2_dir: Path) -> None:
    tokenizer = gpt2_tokenizer(gpt2_dir)
    cfg = dataclasses.replace(TINY, n_embd=8, n_head=2, n_layer=1)
    _make_run(tmp_path / "run", cfg, tokenizer)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    fast = transformers.GPT2TokenizerFast.from_pretrained(out)
    assert fast.encode("Hello world") == [15496, 995]
    text = "Once upon a time, 1234 kids    ran! Don't they?\n\nÜber café 🙂"
    assert fast.encode(text) == tokenizer.encode(text)
    assert fast.decode(tokenizer.encode(text)) == text
    assert export_notes(out) == []
    # a 50,257-id folder needs the GPT-2 files: given here explicitly, as a user would
    run = import_hf(out, tmp_path / "back", tokenizer_dir=gpt2_dir)
    assert load_run(run).tokenizer.encode("Hello world") == [15496, 995]
