"""`gptlab eval` and `gptlab viz` on the command line: results, RUN/eval.json, pictures, errors."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptlab.cli import main
from gptlab.config import apply_overrides, preset_config, save_config
from gptlab.data.prepare import prepare
from gptlab.data.tokenizers import load_tokenizer
from gptlab.model.gpt import GPT
from gptlab.train.checkpoint import save_checkpoint

GPTLAB = Path(sys.executable).with_name("gptlab")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as `gptlab train` lays it out, with one checkpoint of a random-init model."""
    root = tmp_path_factory.mktemp("evalcli")
    data = root / "data"
    prepare(
        "builtin",
        data,
        tokenizer="byte",
        builtin_stories=60,
        val_fraction=0.1,
        num_workers=1,
        progress=False,
    )
    run = root / "run"
    cfg = apply_overrides(
        preset_config("tiny"), [f"data.path={json.dumps(str(data))}", f"run.out_dir={run}"]
    )
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, vocab_size=257))
    torch.manual_seed(0)
    model = GPT(cfg.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    run.mkdir()
    save_config(cfg, run / "config.toml")
    load_tokenizer(data).save(run / "tokenizer")
    save_checkpoint(run, 7, model, optimizer, {"tokens": 0}, config=cfg, val_loss=5.0)
    return run


def test_eval_split_table_and_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "split:val" in out and "bits/byte" in out and "step 7" in out
    assert main(["eval", str(run_dir), "--json", "--max-tokens", "100", "--stride", "16"]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = printed["split:val"]
    assert result["tokens"] == 99 and result["stride"] == 16 and result["step"] == 7
    assert 4.0 < result["loss"] < 7.0  # random init over 257 ids: about ln(257) = 5.55
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["split:val"] == result


def test_eval_text_merges_into_eval_json(run_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "story.txt"
    text.write_text("Once upon a time, a small robot learned to sing. " * 8, encoding="utf-8")
    assert main(["eval", str(run_dir), "--json"]) == 0
    assert main(["eval", str(run_dir), "--text", str(text), "--json", "--checkpoint", "best"]) == 0
    saved = json.loads((run_dir / "eval.json").read_text())
    assert {"split:val", "text:story.txt"} <= set(saved)
    assert saved["text:story.txt"]["bytes"] == len(text.read_bytes())
    assert saved["text:story.txt"]["tokens"] == len(text.read_bytes()) - 1


def test_eval_hellaswag_and_lambada_files(run_dir: Path, tmp_path: Path) -> None:
    hellaswag = tmp_path / "h.jsonl"
    row = {"ctx": "The cat", "endings": ["sat.", "ran.", "hid.", "ate."], "label": 0}
    hellaswag.write_text("\n".join(json.dumps(row) for _ in range(3)) + "\n")
    lambada = tmp_path / "l.jsonl"
    lambada.write_text(json.dumps({"text": "Tom gave the ball to Sue"}) + "\n")
    args = ["eval", str(run_dir), "--hellaswag", str(hellaswag), "--lambada", str(lambada)]
    assert main([*args, "--limit", "2"]) == 0
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["hellaswag"]["count"] == 2 and 0.0 <= saved["hellaswag"]["acc_norm"] <= 1.0
    assert saved["lambada"]["count"] == 1 and saved["lambada"]["ppl"] > 1.0


def error_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return " ".join(captured.err.split())


def test_eval_user_errors(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "does not exist" in error_of(["eval", str(tmp_path / "nope")], capsys)
    missing = tmp_path / "missing.txt"
    assert "does not exist" in error_of(["eval", str(run_dir), "--text", str(missing)], capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert "is empty" in error_of(["eval", str(run_dir), "--text", str(empty)], capsys)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème".encode("latin-1"))
    assert "not UTF-8" in error_of(["eval", str(run_dir), "--text", str(latin)], capsys)
    good = tmp_path / "good.txt"
    good.write_text("hello world, hello again")
    message = error_of(["eval", str(run_dir), "--text", str(good), "--stride", "0"], capsys)
    assert "--stride 0" in message
    message = error_of(["eval", str(run_dir), "--text", str(good), "--stride", "65"], capsys)
    assert "context length (64 tokens)" in message
    bad = tmp_path / "h.jsonl"
    bad.write_text(json.dumps({"ctx": "a", "endings": ["b"] * 4, "label": 0}) + "\n{}\n")
    message = error_of(["eval", str(run_dir), "--hellaswag", str(bad)], capsys)
    assert "line 2: missing key 'ctx'" in message
    assert "step_000099" in error_of(["eval", str(run_dir), "--checkpoint", "99"], capsys)
    chars = tmp_path / "chars"
    prepare("builtin", chars, tokenizer="char", builtin_stories=20, num_workers=1, progress=False)
    message = error_of(["eval", str(run_dir), "--data", str(chars)], capsys)
    assert "tokenized with char" in message and "uses byte (257 ids)" in message


def test_viz_writes_pictures(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "viz"
    assert main(["viz", str(run_dir), "--prompt", "Hi Tom.", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {
        "attention_layer0.png",
        "attention_layer1.png",
        "residual_norms.png",
        "index.html",
    }
    assert str(out / "index.html") in capsys.readouterr().out
    message = error_of(["viz", str(run_dir), "--prompt", "Hi", "--layer", "5"], capsys)
    assert "layers 0 to 1" in message
    message = error_of(
        ["viz", str(run_dir), "--prompt", "Hi", "--layer", "0", "--head", "2"], capsys
    )
    assert "heads 0 to 1" in message
    assert "prompt is empty" in error_of(["viz", str(run_dir), "--prompt", ""], capsys)


def gptlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(GPTLAB), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_end_to_end_prepare_train_eval_viz(tmp_path: Path, shared_data: Path) -> None:
    """The real commands on a byte-level dataset; the wikitext text has characters beyond ASCII."""
    wiki = shared_data / "wikitext-2-raw" / "wiki.valid.raw"
    if not wiki.is_file():
        pytest.skip(f"wikitext-2 not found at {wiki}")
    text = tmp_path / "wiki_head.raw"
    text.write_bytes(wiki.read_bytes()[:20_000].decode("utf-8", "ignore").encode("utf-8"))
    done = gptlab(
        "prepare", "builtin", "--tokenizer", "byte", "--stories", "300", "--out", "D", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    done = gptlab(
        "train", "--preset", "tiny", "--data", "D", "--out", "R",
        "--set", "train.max_steps=20", "--set", "train.eval_batches=2",
        "--set", "run.report=false", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = gptlab("eval", "R", "--text", str(text), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)[f"text:{text.name}"]
    assert result["tokens"] == len(text.read_bytes()) - 1
    assert result["loss"] < 5.4  # trained: below the uniform ln(257) = 5.55
    done = gptlab("eval", "R", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "R" / "eval.json").read_text())
    assert {"split:val", f"text:{text.name}"} <= set(saved)
    done = gptlab("viz", "R", "--prompt", "Once upon a time", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "R" / "viz" / "index.html").is_file()
