"""Every bad input to every command: one message that says what is wrong and what to do.

Each row runs the CLI in-process (`gptlab.cli.main`) on one mistake and checks: exit code 2, a
one-paragraph error on stderr holding the row's key phrase, no traceback, nothing written to the
scratch folder (the working directory, where --out paths point), and the shared dataset and run
folders byte-for-byte unchanged. A few rows run the console script in a subprocess as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from gptlab.cli import main
from gptlab.config import apply_overrides, preset_config
from gptlab.data.prepare import prepare

GPTLAB = Path(sys.executable).with_name("gptlab")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
"""root reads files whatever their mode, so chmod 000 proves nothing for it."""


@dataclass(frozen=True)
class Env:
    """Read-only inputs shared by every row (made once per module)."""

    root: Path

    def __getattr__(self, name: str) -> Path:
        """env.pic_png -> root/pic.png, env.data_noise -> root/data-noise."""
        *stem, last = name.split("_")
        if stem and last in ("png", "txt", "toml", "bin"):
            return self.root / f"{'-'.join(stem)}.{last}"
        return self.root / name.replace("_", "-")


def _tree_digest(folder: Path) -> str:
    """Hash of every file's relative path and bytes under folder (folders included by name)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file() and os.access(path, os.R_OK):
            digest.update(path.read_bytes())
    return digest.hexdigest()


DEEP_JSON = b"[" * 200_000
"""Valid JSON's first 200,000 characters: json.loads runs out of stack (RecursionError)."""


def _tampered_copy(src: Path, dst: Path, relative: str, change: Callable[[Any], object]) -> None:
    """Copy a folder, then edit one of its JSON files: change(value) modifies it in place."""
    shutil.copytree(src, dst)
    target = dst / relative
    value = json.loads(target.read_text(encoding="utf-8"))
    change(value)
    target.write_text(json.dumps(value), encoding="utf-8")


def _first_shard(meta: dict[str, Any]) -> dict[str, Any]:
    shard: dict[str, Any] = meta["splits"]["train"]["shards"][0]
    return shard


def _damaged_inputs(root: Path) -> None:
    """Hand-edited, damaged or crafted copies of the dataset, the run and an HF export."""
    data, run, hf = root / "data", root / "run", root / "hf"
    step = "checkpoints/step_000002/state.json"
    tampered = {
        "data-shard-not-a-name": (data, "meta.json", lambda m: _first_shard(m).update(file=7)),
        "data-no-sha256": (data, "meta.json", lambda m: _first_shard(m).pop("sha256")),
        "data-no-vocab": (data, "meta.json", lambda m: m.pop("vocab_size")),
        "data-vocab-lots": (data, "meta.json", lambda m: m.update(vocab_size="lots")),
        "data-splits-list": (data, "meta.json", lambda m: m.update(splits=[])),
        "data-shards-7": (data, "meta.json", lambda m: m["splits"]["train"].update(shards=7)),
        "run-step-five": (run, step, lambda s: s.update(step="five")),
        "run-rng-size": (run, step, lambda s: s["rng"].update(torch=[1, 2, 3])),
        "run-rng-type": (run, step, lambda s: s["rng"].update(python="x")),
        "hf-huge-context": (hf, "config.json", lambda c: c.update(n_positions=2**62)),
        "hf-inner-wide": (hf, "config.json", lambda c: c.update(n_inner="wide")),
    }  # fmt: skip
    for name, (src, relative, change) in tampered.items():
        _tampered_copy(src, root / name, relative, change)
    _corrupt_copy(data, root / "data-deep", "meta.json", DEEP_JSON)
    _corrupt_copy(run, root / "run-state-deep", step, DEEP_JSON)
    _corrupt_copy(hf, root / "hf-deep", "config.json", DEEP_JSON)
    shutil.copytree(hf, root / "hf-c-attn")
    weights_file = str(root / "hf-c-attn" / "model.safetensors")
    weights = load_file(weights_file)
    weights["transformer.h.0.attn.c_attn.weight"] = torch.zeros(16, 40)  # config: (16, 48)
    save_file(weights, weights_file)
    (root / "deep.jsonl").write_bytes(b'{"text": "a"}\n' + DEEP_JSON + b"\n")
    for name in ("hellaswag-deep.jsonl", "lambada-deep.jsonl"):
        (root / name).write_bytes(DEEP_JSON + b"\n")
    row = {"ctx": "The cat", "endings": ["sat.", "ran.", "ate.", "slept."], "label": 2.7}
    (root / "hellaswag-label.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (root / "hellaswag-label-inf.jsonl").write_text(
        json.dumps(row).replace("2.7", "1e400") + "\n", encoding="utf-8"
    )
    (root / "sweep-x").mkdir()
    sweep_state = {"format": "gptlab-sweep", "format_version": 1, "trials": "x"}
    (root / "sweep-x" / "sweep.json").write_text(json.dumps(sweep_state), encoding="utf-8")
    (root / "sweep-x.toml").write_text(
        '[sweep]\nout = "sweep-x"\n[parameters]\n"optim.lr" = [1e-3]\n', encoding="utf-8"
    )


def _corrupt_copy(src: Path, dst: Path, relative: str, payload: bytes | None) -> None:
    """Copy a folder, then replace one file with payload (None: cut its last 100 bytes)."""
    shutil.copytree(src, dst)
    target = dst / relative
    if payload is None:
        os.truncate(target, target.stat().st_size - 100)
    else:
        target.write_bytes(payload)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("inputs")
    data = root / "data"
    prepare("builtin", data, tokenizer="byte", builtin_stories=40, num_workers=1, progress=False)
    tiny = [
        "model.n_layer=1", "model.n_head=2", "model.n_embd=16", "model.context_length=16",
        "train.micro_batch_size=2", "train.eval_batches=1", "train.sample_max_new_tokens=2",
        "train.max_steps=2", "train.eval_interval_steps=0", 'train.device="cpu"',
        "run.report=false", f'data.path="{data}"', f'run.out_dir="{root / "run"}"',
    ]  # fmt: skip
    from gptlab.train import train

    train(apply_overrides(preset_config("tiny"), tiny), progress=False)

    rng = random.Random(0)
    noise = bytes(rng.randrange(256) for _ in range(4096))
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise[:64])
    (root / "noise.bin").write_bytes(noise)
    (root / "latin.txt").write_bytes("café crème\n\nbrûlée\n".encode("latin-1"))
    (root / "empty.txt").write_bytes(b"")
    (root / "prompts.txt").write_text("Once upon a time\n", encoding="utf-8")
    (root / "lambada.jsonl").write_text('{"text": "the cat sat on the mat"}\n', encoding="utf-8")
    (root / "empty-dir").mkdir()
    tomls = {
        "broken.toml": "[model\nn_layer = 2\n",
        "section.toml": "[modle]\nn_layer = 2\n",
        "field.toml": "[model]\nn_layers = 2\n",
        "type.toml": '[model]\nn_layer = "two"\n',
        "range.toml": "[model]\ndropout = 1.5\n",
        "horizons.toml": "[train]\nepochs = 1.0\nmax_steps = 5\n",
        "sweep-table.toml": '[sweep]\nout = "out"\n[grid]\n"optim.lr" = [1e-3]\n',
    }
    for name, text in tomls.items():
        (root / name).write_text(text, encoding="utf-8")
    _corrupt_copy(data, root / "data-noise", "train_000000.bin", noise)
    _corrupt_copy(data, root / "data-cut", "train_000000.bin", None)
    step = "checkpoints/step_000002"
    _corrupt_copy(root / "run", root / "run-noise", f"{step}/model.safetensors", noise)
    hf_bin = root / "hf-bin"
    hf_bin.mkdir()
    (hf_bin / "config.json").write_text('{"model_type": "gpt2", "n_layer": 1}', encoding="utf-8")
    (hf_bin / "pytorch_model.bin").write_bytes(noise)
    for name in ("secret.txt", "secret.toml"):
        (root / name).write_text("[model]\nn_layer = 2\n", encoding="utf-8")
        (root / name).chmod(0)
    from gptlab.interop import export_hf

    export_hf(root / "run", root / "hf")
    _damaged_inputs(root)
    return Env(root)


@dataclass(frozen=True)
class Case:
    """One bad command line and the phrase its message must contain."""

    argv: Callable[[Env, Path], list[str]]
    """(inputs, scratch folder) -> arguments after `gptlab`."""
    phrase: str
    """Case-insensitive text the error paragraph must hold (names the problem or the fix)."""


def row(
    case_id: str, argv: Callable[[Env, Path], list[str]], phrase: str, *, xfail: str = ""
) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(Case(argv, phrase), id=case_id, marks=marks)


def unreadable(case_id: str, argv: Callable[[Env, Path], list[str]], phrase: str) -> object:
    skip = pytest.mark.skipif(IS_ROOT, reason="root can read a chmod 000 file")
    return pytest.param(Case(argv, phrase), id=case_id, marks=[skip])


def s(path: Path) -> str:
    return str(path)


BYTE = ["--tokenizer", "byte", "--stories", "30", "--workers", "1"]
CPU = ["--device", "cpu", "--max-steps", "1", "--no-progress"]

CASES = [
    # ---- prepare ------------------------------------------------------------------------------
    row("prepare-min-above-max", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"), *BYTE,
        "--min-tokens", "10", "--max-tokens", "5"], "Lower --min-tokens"),
    row("prepare-negative-min", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"), *BYTE,
        "--min-tokens", "-3"], "must be >= 0"),
    row("prepare-unknown-tokenizer", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        "--tokenizer", "sentencepiece"], "Choose one of: gpt2, char, byte, bpe"),
    row("prepare-bpe-without-vocab", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        "--tokenizer", "bpe"], "pass --vocab-size"),
    row("prepare-bpe-vocab-too-small", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        "--tokenizer", "bpe", "--vocab-size", "10", "--stories", "30", "--workers", "1"],
        "at least 257"),
    row("prepare-val-fraction-too-high", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        *BYTE, "--val-fraction", "0.9"], "between 0 and 0.5"),
    row("prepare-zero-workers", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        "--tokenizer", "byte", "--workers", "0"], "must be at least 1"),
    row("prepare-stories-not-a-number", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        "--stories", "many"], "valid integer"),
    row("prepare-missing-file", lambda e, t: ["prepare", s(e.root / "nothing.txt"), "--out",
        s(t / "o"), *BYTE], "Check the path"),
    row("prepare-empty-file", lambda e, t: ["prepare", s(e.empty_txt), "--out", s(t / "o"),
        *BYTE], "Give a file with text"),
    row("prepare-non-utf8", lambda e, t: ["prepare", s(e.latin_txt), "--out", s(t / "o"),
        *BYTE], "--encoding latin-1"),
    row("prepare-unknown-encoding", lambda e, t: ["prepare", s(e.latin_txt), "--out",
        s(t / "o"), *BYTE, "--encoding", "klingon"], "Use a Python codec name"),
    row("prepare-unknown-split-mode", lambda e, t: ["prepare", s(e.latin_txt), "--out",
        s(t / "o"), *BYTE, "--split-mode", "paragraphs"], "not one of auto, eot"),
    row("prepare-png-as-text", lambda e, t: ["prepare", s(e.pic_png), "--out", s(t / "o"),
        *BYTE], "Unsupported file type '.png'"),
    row("prepare-folder-without-text", lambda e, t: ["prepare", s(e.empty_dir), "--out",
        s(t / "o"), *BYTE], "has no supported files"),
    row("prepare-out-exists", lambda e, t: ["prepare", "builtin", "--out", s(e.data), *BYTE],
        "pass --overwrite"),
    row("prepare-everything-filtered", lambda e, t: ["prepare", "builtin", "--out", s(t / "o"),
        *BYTE, "--max-tokens", "1"], "Loosen --min-tokens / --max-tokens"),
    unreadable("prepare-unreadable-file", lambda e, t: ["prepare", s(e.secret_txt), "--out",
        s(t / "o"), *BYTE], "secret.txt"),
    row("prepare-jsonl-nested-too-deep", lambda e, t: ["prepare", s(e.root / "deep.jsonl"),
        "--out", s(t / "o"), *BYTE[:2], "--workers", "1"], "line 2 is not valid JSON"),
    # ---- analyze ------------------------------------------------------------------------------
    row("analyze-missing", lambda e, t: ["analyze", s(e.root / "nothing")], "Check the path"),
    row("analyze-top-k-zero", lambda e, t: ["analyze", s(e.data), "--top-k", "0", "--out",
        s(t / "a")], "top_k=0 must be at least 1"),
    row("analyze-context-zero", lambda e, t: ["analyze", s(e.data), "--context", "0", "--out",
        s(t / "a")], "positive lengths"),
    row("analyze-non-utf8", lambda e, t: ["analyze", s(e.latin_txt), "--tokenizer", "byte",
        "--out", s(t / "a")], "--errors replace"),
    row("analyze-empty-file", lambda e, t: ["analyze", s(e.empty_txt), "--tokenizer", "byte",
        "--out", s(t / "a")], "is empty"),
    row("analyze-out-is-a-file", lambda e, t: ["analyze", s(e.data), "--out", s(e.pic_png)],
        "Choose another --out"),
    row("analyze-random-shard", lambda e, t: ["analyze", s(e.data_noise), "--out", s(t / "a")],
        "not a gptlab token shard"),
    row("analyze-truncated-shard", lambda e, t: ["analyze", s(e.data_cut), "--out", s(t / "a")],
        "truncated or corrupt"),
    row("analyze-meta-shards-not-a-list", lambda e, t: ["analyze", s(e.data_shards_7), "--out",
        s(t / "a")], "splits.train.shards should be a list"),
    row("analyze-meta-shard-not-a-name", lambda e, t: ["analyze", s(e.data_shard_not_a_name),
        "--out", s(t / "a")], "should be the name of a file"),
    row("analyze-meta-nested-too-deep", lambda e, t: ["analyze", s(e.data_deep), "--out",
        s(t / "a")], "meta.json is not valid JSON"),
    # ---- train and config files ---------------------------------------------------------------
    row("train-unknown-preset", lambda e, t: ["train", "--preset", "huge", "--data", s(e.data),
        "--out", s(t / "r")], "Valid presets: tiny"),
    row("train-missing-data", lambda e, t: ["train", "--data", s(e.root / "nothing"), "--out",
        s(t / "r"), *CPU], "gptlab prepare"),
    row("train-data-is-a-file", lambda e, t: ["train", "--data", s(e.pic_png), "--out",
        s(t / "r"), *CPU], "is a file"),
    row("train-data-without-meta", lambda e, t: ["train", "--data", s(e.empty_dir), "--out",
        s(t / "r"), *CPU], "no meta.json"),
    row("config-bad-toml", lambda e, t: ["train", "--config", s(e.broken_toml), "--out",
        s(t / "r")], "Fix the syntax"),
    row("config-unknown-section", lambda e, t: ["train", "--config", s(e.section_toml), "--out",
        s(t / "r")], "Valid sections: data, model"),
    row("config-unknown-field", lambda e, t: ["train", "--config", s(e.field_toml), "--out",
        s(t / "r")], "Valid fields of [model]: n_layer"),
    row("config-wrong-type", lambda e, t: ["train", "--config", s(e.type_toml), "--out",
        s(t / "r")], "expected a whole number"),
    row("config-out-of-range", lambda e, t: ["train", "--config", s(e.range_toml), "--out",
        s(t / "r")], "must be in [0, 1)"),
    row("config-epochs-and-max-steps", lambda e, t: ["train", "--config", s(e.horizons_toml),
        "--out", s(t / "r")], "set the others to 0"),
    row("config-png", lambda e, t: ["train", "--config", s(e.pic_png), "--out", s(t / "r")],
        "give a TOML text file"),
    row("config-is-a-folder", lambda e, t: ["train", "--config", s(e.empty_dir), "--out",
        s(t / "r")], "check the path"),
    row("config-missing", lambda e, t: ["train", "--config", s(e.root / "none.toml"), "--out",
        s(t / "r")], "does not exist"),
    unreadable("config-unreadable", lambda e, t: ["train", "--config", s(e.secret_toml),
        "--out", s(t / "r")], "Check its permissions"),
    row("set-bad-syntax", lambda e, t: ["train", "--set", "optim.lr", "--out", s(t / "r")],
        "section.field=value"),
    row("set-unknown-key", lambda e, t: ["train", "--set", "optim.learning_rate=1", "--out",
        s(t / "r")], "Valid fields of [optim]"),
    row("set-unknown-section", lambda e, t: ["train", "--set", "optimizer.lr=1", "--out",
        s(t / "r")], "Valid sections"),
    row("set-wrong-type", lambda e, t: ["train", "--set", "optim.lr=fast", "--out", s(t / "r")],
        "expected a number"),
    row("set-nan", lambda e, t: ["train", "--set", "optim.lr=nan", "--out", s(t / "r")],
        "finite number"),
    row("set-heads-do-not-divide", lambda e, t: ["train", "--set", "model.n_head=3", "--out",
        s(t / "r")], "not divisible by model.n_head=3"),
    row("set-epochs-and-max-steps", lambda e, t: ["train", "--set", "train.epochs=1", "--set",
        "train.max_steps=3", "--out", s(t / "r")], "set the others to 0"),
    row("set-min-lr-above-lr", lambda e, t: ["train", "--set", "optim.min_lr=1.0", "--out",
        s(t / "r")], "must not exceed optim.lr"),
    row("train-negative-max-steps", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), "--max-steps", "-1"], "0 or more"),
    row("train-unknown-device", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"),
        "--device", "tpu"], "use auto, cpu, cuda"),
    row("train-unknown-precision", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), "--precision", "fp8"], "choose one of auto, fp32"),
    row("train-out-holds-a-run", lambda e, t: ["train", "--data", s(e.data), "--out", s(e.run),
        *CPU], "--resume"),
    row("train-out-is-a-file", lambda e, t: ["train", "--data", s(e.data), "--out", s(e.pic_png),
        *CPU], "is a file, not a folder"),
    row("train-resume-missing", lambda e, t: ["train", "--resume", s(t / "ghost")],
        "config.toml does not exist"),
    row("train-resume-with-preset", lambda e, t: ["train", "--resume", s(e.run), "--preset",
        "tiny"], "cannot be combined"),
    row("train-resume-changes-model", lambda e, t: ["train", "--resume", s(e.run), "--set",
        "model.n_layer=3"], "cannot change a resumed run"),
    row("train-random-shard", lambda e, t: ["train", "--data", s(e.data_noise), "--out",
        s(t / "r"), *CPU], "not a gptlab token shard"),
    row("train-truncated-shard", lambda e, t: ["train", "--data", s(e.data_cut), "--out",
        s(t / "r"), *CPU], "truncated or corrupt"),
    row("train-vocab-smaller-than-data", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.vocab_size=5"], "at least 257"),
    row("train-context-longer-than-data", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.context_length=100000"], "use a smaller context",
),
    row("set-huge-width", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"), *CPU,
        "--set", "model.n_embd=4611686018427387904"], "n_embd=4611686018427387904 is invalid"),
    row("set-huge-width-and-heads", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.n_embd=4611686018427387904", "--set",
        "model.n_head=1073741824"], "at most 16,777,216"),
    row("set-huge-ffn", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"), *CPU,
        "--set", "model.ffn_dim=4611686018427387904"], "model.ffn_dim"),
    row("set-huge-vocab-multiple", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.vocab_multiple=4611686018427387904"], "64 or 128"),
    row("set-trillions-of-parameters", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.n_layer=100", "--set", "model.n_embd=1048576"],
        "choose smaller sizes"),
    row("train-model-larger-than-memory", lambda e, t: ["train", "--data", s(e.data), "--out",
        s(t / "r"), *CPU, "--set", "model.n_layer=2000", "--set", "model.n_embd=4096"],
        "choose a smaller model"),
    row("set-seed-1e23", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"), *CPU,
        "--set", "train.seed=1e23"], "from 0 to 9223372036854775807"),
    row("set-seed-above-2-63", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"),
        *CPU, "--set", "train.seed=9223372036854775808"], "from 0 to 9223372036854775807"),
    row("set-huge-micro-batch", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"),
        *CPU, "--set", "train.micro_batch_size=1000000000000"], "set train.batch_size"),
    row("set-prompt-not-utf8", lambda e, t: ["train", "--data", s(e.data), "--out", s(t / "r"),
        *CPU, "--set", "train.sample_prompts=\udcff"], "not valid UTF-8"),
    row("train-meta-shard-not-a-name", lambda e, t: ["train", "--data",
        s(e.data_shard_not_a_name), "--out", s(t / "r"), *CPU], "meta.json is damaged"),
    row("train-meta-no-sha256", lambda e, t: ["train", "--data", s(e.data_no_sha256), "--out",
        s(t / "r"), *CPU], "sha256 should be"),
    row("train-meta-no-vocab-size", lambda e, t: ["train", "--data", s(e.data_no_vocab),
        "--out", s(t / "r"), *CPU], "vocab_size should be a whole number"),
    row("train-meta-vocab-lots", lambda e, t: ["train", "--data", s(e.data_vocab_lots), "--out",
        s(t / "r"), *CPU], "but is 'lots'"),
    row("train-meta-splits-list", lambda e, t: ["train", "--data", s(e.data_splits_list),
        "--out", s(t / "r"), *CPU], "splits should be a table"),
    row("train-meta-shards-7", lambda e, t: ["train", "--data", s(e.data_shards_7), "--out",
        s(t / "r"), *CPU], "Prepare the dataset again"),
    row("train-meta-nested-too-deep", lambda e, t: ["train", "--data", s(e.data_deep), "--out",
        s(t / "r"), *CPU], "nests lists or objects too deeply"),
    row("train-resume-step-five", lambda e, t: ["train", "--resume", s(e.run_step_five),
        "--no-progress"], "no valid checkpoint to resume from"),
    row("train-resume-rng-wrong-size", lambda e, t: ["train", "--resume", s(e.run_rng_size),
        "--no-progress"], "no valid checkpoint to resume from"),
    row("train-resume-state-nested-too-deep", lambda e, t: ["train", "--resume",
        s(e.run_state_deep), "--no-progress"], "no valid checkpoint to resume from"),
    # ---- eval ---------------------------------------------------------------------------------
    row("eval-missing-run", lambda e, t: ["eval", s(e.root / "nothing")], "does not exist"),
    row("eval-dataset-as-run", lambda e, t: ["eval", s(e.data)], "no complete checkpoint"),
    row("eval-file-as-run", lambda e, t: ["eval", s(e.pic_png)], "is a file",
),
    row("eval-unknown-checkpoint", lambda e, t: ["eval", s(e.run), "-c", "banana"],
        "was not found"),
    row("eval-corrupt-weights", lambda e, t: ["eval", s(e.run_noise), "--device", "cpu"],
        "does not match the sha256"),
    row("eval-unknown-split", lambda e, t: ["eval", s(e.run), "--split", "test"],
        "has no split 'test'"),
    row("eval-stride-zero", lambda e, t: ["eval", s(e.run), "--stride", "0"], "at least 1"),
    row("eval-batch-size-zero", lambda e, t: ["eval", s(e.run), "--batch-size", "0"],
        "at least 1"),
    row("eval-text-non-utf8", lambda e, t: ["eval", s(e.run), "--text", s(e.latin_txt)],
        "not UTF-8"),
    row("eval-text-empty", lambda e, t: ["eval", s(e.run), "--text", s(e.empty_txt)],
        "is empty"),
    row("eval-text-is-a-folder", lambda e, t: ["eval", s(e.run), "--text", s(e.empty_dir)],
        "check the path"),
    row("eval-hellaswag-binary", lambda e, t: ["eval", s(e.run), "--hellaswag",
        s(e.noise_bin)], "not UTF-8"),
    row("eval-unknown-device", lambda e, t: ["eval", s(e.run), "--device", "quantum"],
        "use auto, cpu"),
    row("eval-lambada-not-json", lambda e, t: ["eval", s(e.run), "--lambada", s(e.prompts_txt),
        "--device", "cpu"], "Each line must be one JSON object"),
    row("eval-negative-limit", lambda e, t: ["eval", s(e.run), "--lambada",
        s(e.root / "lambada.jsonl"), "--limit", "-1", "--device", "cpu"], "--limit -1"),
    row("eval-hellaswag-nested-too-deep", lambda e, t: ["eval", s(e.run), "--hellaswag",
        s(e.root / "hellaswag-deep.jsonl"), "--device", "cpu"], "too deeply"),
    row("eval-lambada-nested-too-deep", lambda e, t: ["eval", s(e.run), "--lambada",
        s(e.root / "lambada-deep.jsonl"), "--device", "cpu"], "too deeply"),
    row("eval-hellaswag-fractional-label", lambda e, t: ["eval", s(e.run), "--hellaswag",
        s(e.root / "hellaswag-label.jsonl"), "--device", "cpu"], "got 2.7"),
    row("eval-hellaswag-infinite-label", lambda e, t: ["eval", s(e.run), "--hellaswag",
        s(e.root / "hellaswag-label-inf.jsonl"), "--device", "cpu"], "must be 0, 1, 2 or 3"),
    row("eval-state-step-five", lambda e, t: ["eval", s(e.run_step_five), "-c", "2", "--device",
        "cpu"], "state.json is damaged: step should be"),
    row("eval-state-rng-wrong-type", lambda e, t: ["eval", s(e.run_rng_type), "-c", "2",
        "--device", "cpu"], "random generator states"),
    # ---- generate -----------------------------------------------------------------------------
    row("generate-negative-tokens", lambda e, t: ["generate", s(e.run), "-n", "-1"],
        "at least 1 token"),
    row("generate-top-p-above-one", lambda e, t: ["generate", s(e.run), "--top-p", "2"],
        "it must be in (0, 1]"),
    row("generate-negative-temperature", lambda e, t: ["generate", s(e.run), "-t", "-1"],
        "use 0 or more"),
    row("generate-temperature-not-a-number", lambda e, t: ["generate", s(e.run), "-t", "hot"],
        "valid number"),
    row("generate-zero-samples", lambda e, t: ["generate", s(e.run), "--num-samples", "0"],
        "use 1 or more"),
    row("generate-prompt-file-non-utf8", lambda e, t: ["generate", s(e.run), "--prompt-file",
        s(e.latin_txt)], "not UTF-8"),
    row("generate-prompt-file-is-a-folder", lambda e, t: ["generate", s(e.run),
        "--prompt-file", s(e.empty_dir)], "check the path"),
    row("generate-prompt-file-empty", lambda e, t: ["generate", s(e.run), "--prompt-file",
        s(e.empty_txt)], "one prompt per line"),
    row("generate-missing-step", lambda e, t: ["generate", s(e.run), "-c", "77"], "not found",
),
    row("generate-seed-above-2-63", lambda e, t: ["generate", s(e.run), "--seed",
        "99999999999999999999", "--device", "cpu"], "from 0 to 9223372036854775807"),
    row("generate-tiny-temperature", lambda e, t: ["generate", s(e.run), "-t", "1e-300",
        "--device", "cpu"], "use 0 for greedy decoding"),
    row("generate-trillion-tokens", lambda e, t: ["generate", s(e.run), "-n", "1000000000000",
        "--device", "cpu"], "at most 1,000,000 tokens"),
    row("generate-trillion-samples", lambda e, t: ["generate", s(e.run), "--num-samples",
        "1000000000000", "--device", "cpu"], "at most 1024"),
    row("generate-prompt-not-utf8", lambda e, t: ["generate", s(e.run), "-p", "Once \udcff",
        "--device", "cpu"], "not valid UTF-8"),
    row("generate-rng-wrong-size", lambda e, t: ["generate", s(e.run_rng_size), "-c",
        "step_000002", "--device", "cpu"], "cannot be restored"),
    # ---- report, viz, compare -----------------------------------------------------------------
    row("report-missing-run", lambda e, t: ["report", s(e.root / "nothing")], "train first"),
    row("report-dataset-as-run", lambda e, t: ["report", s(e.data)], "no metrics.jsonl"),
    row("report-file-as-run", lambda e, t: ["report", s(e.pic_png)], "is a file"),
    row("viz-empty-prompt", lambda e, t: ["viz", s(e.run), "-p", "", "-o", s(t / "v")],
        "prompt is empty"),
    row("viz-layer-out-of-range", lambda e, t: ["viz", s(e.run), "-p", "hi", "--layer", "9",
        "-o", s(t / "v")], "out of range"),
    row("viz-out-is-a-file", lambda e, t: ["viz", s(e.run), "-p", "hi", "-o", s(e.pic_png)],
        "not a folder; nothing was changed"),
    row("viz-prompt-not-utf8", lambda e, t: ["viz", s(e.run), "-p", "Once \udcff", "-o",
        s(t / "v")], "not valid UTF-8"),
    row("compare-missing-run", lambda e, t: ["compare", s(e.run), s(e.root / "nothing"), "-o",
        s(t / "c")], "does not exist"),
    row("compare-dataset-as-run", lambda e, t: ["compare", s(e.run), s(e.data), "-o",
        s(t / "c")], "no metrics.jsonl"),
    row("compare-out-is-a-file", lambda e, t: ["compare", s(e.run), s(e.run), "-o",
        s(e.pic_png)], "not a folder; nothing was changed"),
    # ---- sweep --------------------------------------------------------------------------------
    row("sweep-missing-spec", lambda e, t: ["sweep", s(t / "none.toml")], "does not exist"),
    row("sweep-bad-toml", lambda e, t: ["sweep", s(e.broken_toml)], "Fix the syntax"),
    row("sweep-unknown-table", lambda e, t: ["sweep", s(e.section_toml)],
        "has the tables [sweep]"),
    row("sweep-png-spec", lambda e, t: ["sweep", s(e.pic_png)], "give a TOML text file"),
    row("sweep-state-trials-not-a-list", lambda e, t: ["sweep", s(e.sweep_x_toml),
        "--summary-only"], "not a list of trial records"),
    # ---- export and import-hf -----------------------------------------------------------------
    row("export-unknown-format", lambda e, t: ["export", s(e.run), "-o", s(t / "x"), "-f",
        "onnx"], "Valid formats: hf"),
    row("export-missing-run", lambda e, t: ["export", s(e.root / "nothing"), "-o", s(t / "x")],
        "does not exist"),
    row("export-out-exists", lambda e, t: ["export", s(e.run), "-o", s(e.data)],
        "pass --overwrite"),
    row("export-unknown-checkpoint", lambda e, t: ["export", s(e.run), "-o", s(t / "x"),
        "--checkpoint", "step_5"], "was not found"),
    row("import-hf-missing-folder", lambda e, t: ["import-hf", s(e.root / "nothing"), "-o",
        s(t / "h")], "not a local folder"),
    row("import-hf-run-folder", lambda e, t: ["import-hf", s(e.run), "-o", s(t / "h")],
        "no config.json"),
    row("import-hf-pickle-only", lambda e, t: ["import-hf", s(e.hf_bin), "-o", s(t / "h")],
        "safetensors"),
    row("import-hf-hub-name-offline", lambda e, t: ["import-hf", "openai-community/gpt2", "-o",
        s(t / "h")], "pass --download"),
    row("import-hf-huge-context", lambda e, t: ["import-hf", s(e.hf_huge_context), "-o",
        s(t / "h")], "cannot build"),
    row("import-hf-inner-not-a-number", lambda e, t: ["import-hf", s(e.hf_inner_wide), "-o",
        s(t / "h")], "n_inner='wide'"),
    row("import-hf-config-nested-too-deep", lambda e, t: ["import-hf", s(e.hf_deep), "-o",
        s(t / "h")], "config.json is not valid JSON"),
    row("import-hf-wrong-c-attn-shape", lambda e, t: ["import-hf", s(e.hf_c_attn), "-o",
        s(t / "h")], "need (16, 48)"),
    # ---- presets, demo, bench, the command line itself ----------------------------------------
    row("presets-zero-vocab", lambda e, t: ["presets", "--vocab-size", "0"],
        "positive token count"),
    row("presets-vocab-not-a-number", lambda e, t: ["presets", "--vocab-size", "many"],
        "valid integer"),
    row("demo-too-few-stories", lambda e, t: ["demo", "--stories", "5", "-o", s(t / "d")],
        "greater than or equal to 100"),
    row("demo-zero-steps", lambda e, t: ["demo", "--max-steps", "0", "-o", s(t / "d")],
        "greater than or equal to 1"),
    row("demo-out-is-a-file", lambda e, t: ["demo", "-o", s(e.pic_png), "--stories", "100",
        "--max-steps", "1", "--no-progress"], "choose another path"),
    row("bench-unknown-preset", lambda e, t: ["bench", "--preset", "huge"], "Valid presets"),
    row("bench-zero-steps", lambda e, t: ["bench", "--steps", "0"], "--steps 1"),
    row("bench-zero-micro-batch", lambda e, t: ["bench", "--micro-batch", "0", "--device", "cpu"],
        "micro"),
    row("bench-unknown-device", lambda e, t: ["bench", "--device", "quantum"], "cpu"),
    row("bench-steps-not-a-number", lambda e, t: ["bench", "--steps", "ten"], "valid integer"),
    row("unknown-command", lambda e, t: ["trian"], "No such command"),
    row("unknown-option", lambda e, t: ["train", "--max-step", "3"], "No such option"),
]  # fmt: skip


def _error_paragraph(err: str) -> str:
    """The error message: from the line starting with 'error:' / 'Error:' to the end."""
    lines = err.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.lower().startswith("error:")]
    assert len(starts) == 1, f"expected exactly one error line, got:\n{err}"
    paragraph = lines[starts[0] :]
    assert all(line.strip() for line in paragraph), f"the message is not one paragraph:\n{err}"
    return " ".join(" ".join(paragraph).split())


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_message(
    case: Case,
    env: Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # Default outputs (./compare, ./demo, ./analysis-*) would land here, so they are caught too.
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("COLUMNS", "200")
    before = _tree_digest(env.root)

    rc = main(case.argv(env, scratch))
    captured = capsys.readouterr()

    assert "Traceback" not in captured.err + captured.out
    assert rc == 2, captured.err
    message = _error_paragraph(captured.err)
    assert case.phrase.lower() in message.lower(), message
    assert sorted(p.name for p in scratch.iterdir()) == [], "a failed command left output behind"
    assert _tree_digest(env.root) == before, "a failed command changed an existing input"


def test_row_count() -> None:
    assert len(CASES) >= 45


# ---- odd but valid input: each was a traceback, now the command does its job ---------------

REPORT_DAMAGE = {
    "metrics-nested-too-deep": ("metrics.jsonl", lambda b: b + DEEP_JSON + b"\n"),
    "metrics-not-utf8": ("metrics.jsonl", lambda b: b + b'{"kind": "train", "\xff": 1}\n'),
    "samples-nested-too-deep": ("samples.jsonl", lambda b: b + DEEP_JSON + b"\n"),
    "samples-step-infinity": ("samples.jsonl", lambda b: b'{"step": Infinity, "text": "a"}\n'),
    "eval-nested-too-deep": ("eval.json", lambda b: DEEP_JSON),
    "dataset-meta-shards-7": (
        "dataset_meta.json",
        lambda b: b.replace(b'"shards": [', b'"shards": 7, "was": [', 1),
    ),
}
"""A report shows what it can: a damaged record is skipped (metrics lines are counted)."""


@pytest.mark.parametrize(("name", "change"), REPORT_DAMAGE.values(), ids=REPORT_DAMAGE.keys())
def test_report_skips_damaged_records(
    name: str,
    change: Callable[[bytes], bytes],
    env: Env,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    shutil.copytree(env.run, run)
    target = run / name
    target.write_bytes(change(target.read_bytes() if target.is_file() else b""))

    rc = main(["report", str(run)])
    captured = capsys.readouterr()

    assert "Traceback" not in captured.err + captured.out
    assert rc == 0, captured.err
    assert (run / "report.html").is_file()


def test_dollar_signs_in_run_names_are_text(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "price$$run"  # matplotlib reads "$...$" as mathtext unless told not to
    shutil.copytree(env.run, run)
    rc = main(["compare", str(env.run), str(run), "-o", str(tmp_path / "c")])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "c" / "compare.html").is_file()


def test_sweep_summary_draws_dollar_values(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = "\n".join(
        f'"{key}" = {value}'
        for key, value in {
            "data.path": f'"{env.data}"', "model.n_layer": 1, "model.n_head": 2,
            "model.n_embd": 16, "model.context_length": 16, "train.micro_batch_size": 2,
            "train.max_steps": 1, "train.eval_batches": 1, "train.eval_interval_steps": 0,
            "train.sample_max_new_tokens": 1, "train.device": '"cpu"', "run.report": "false",
        }.items()
    )  # fmt: skip
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'[sweep]\nout = "out"\n[base]\n{base}\n[parameters]\n'
        '"run.wandb_project" = ["cost $x^$", "b"]\n',
        encoding="utf-8",
    )
    rc = main(["sweep", str(spec)])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "effect_run.wandb_project.png").is_file()


def test_import_hf_says_half_precision_weights_are_converted(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "hf16"
    shutil.copytree(env.hf, source)
    weights = load_file(str(source / "model.safetensors"))
    save_file({k: v.half() for k, v in weights.items()}, str(source / "model.safetensors"))
    rc = main(["import-hf", str(source), "-o", str(tmp_path / "run")])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 0, err
    assert "stored as float16" in err and "converted" in err


def test_generate_prints_to_a_terminal_that_cannot_show_every_character(env: Env) -> None:
    if not GPTLAB.is_file():
        pytest.skip(f"console script not installed at {GPTLAB}")
    command = [str(GPTLAB), "generate", str(env.run), "-n", "20", "--no-stop-at-eos"]
    done = subprocess.run(
        [*command, "--seed", "1", "--num-samples", "2", "--device", "cpu"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii:strict"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert b"Traceback" not in done.stderr
    assert b"?" in done.stdout  # bytes the byte-level model made, shown as "?"


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["train", "--preset", "huge"], "Valid presets"),
        (["prepare", "builtin", "--tokenizer", "sentencepiece"], "Unknown tokenizer"),
        (["presets", "--vocab-size", "many"], "valid integer"),
    ],
    ids=["user-error", "library-error", "usage-error"],
)
def test_console_script_answers_the_same(args: list[str], phrase: str, tmp_path: Path) -> None:
    if not GPTLAB.is_file():
        pytest.skip(f"console script not installed at {GPTLAB}")
    done = subprocess.run(
        [str(GPTLAB), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert phrase.lower() in " ".join(done.stderr.split()).lower()
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--debug", "train", "--preset", "huge"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" in err and "ConfigError" in err
    assert "Valid presets" in " ".join(err.split())


def test_debug_shows_the_traceback_of_a_refused_output(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["--debug", "viz", str(env.run), "-p", "hi", "-o", str(env.pic_png)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" in err and "UnsafeFolderError" in err
