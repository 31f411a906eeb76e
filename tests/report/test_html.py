"""report.html: self-contained, escaped, idempotent, every picture loads in a real browser."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gptlab.config import apply_overrides, preset_config, save_config
from gptlab.errors import CheckpointError
from gptlab.report import write_report
from gptlab.report.html import summarize_run

EVIL = '<script>alert("x")</script> & "quotes"'


def make_run(
    root: Path,
    name: str = "run",
    *,
    tokenizer: str = "char",
    vocab_size: int = 65,
    val_tokens: int = 10_000,
    val_bytes: int = 10_000,
    n_train: int = 30,
    n_eval: int = 5,
    loss_offset: float = 0.0,
    seed: int = 0,
) -> Path:
    """A run folder as `gptlab train` writes it, with realistic decaying curves."""
    run = root / name
    run.mkdir(parents=True)
    cfg = apply_overrides(
        preset_config("tiny"),
        [f"model.vocab_size={vocab_size}", f'run.out_dir="{run}"', 'data.path="data/x"'],
    )
    save_config(cfg, run / "config.toml")
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    for i in range(1, n_train + 1):
        step = 10 * i
        records.append(
            {
                "kind": "train",
                "step": step,
                "tokens": step * 1024,
                "epoch": step / 300,
                "loss": 1.3 + loss_offset + 2.9 * math.exp(-step / 90) + rng.normal(0, 0.05),
                "lr": 3e-3,
                "grad_norm": 0.8,
                "tokens_per_s": 9000.0 + 10 * i,
                "mfu": None,
                "memory_mb": 100.0,
                "elapsed_s": step * 0.1,
            }
        )
    for j in range(1, n_eval + 1):
        step = j * (10 * n_train // n_eval)
        train = 1.3 + loss_offset + 2.9 * math.exp(-step / 90)
        val = train + 0.02 * j
        records.append(
            {
                "kind": "eval",
                "step": step,
                "tokens": step * 1024,
                "epoch": 0.5,
                "elapsed_s": step * 0.1,
                "val_loss": val,
                "val_ppl": math.exp(val),
                "val_acc": 0.2 + 0.05 * j,
                "val_acc_top5": 0.5 + 0.05 * j,
                "train_loss": train,
                "train_ppl": math.exp(train),
                "train_acc": 0.2 + 0.05 * j,
                "train_acc_top5": 0.5 + 0.05 * j,
            }
        )
    records.sort(key=lambda r: int(r["step"]))
    records.append(
        {
            "kind": "end",
            "step": 10 * n_train,
            "tokens": 10 * n_train * 1024,
            "elapsed_s": n_train * 1.0,
            "reason": "max_steps",
        }
    )
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    samples = [
        {
            "step": 60 * j,
            "tokens": 60 * j * 1024,
            "prompt": "Once upon a time",
            "text": f"Once upon a time there was a cat number {j}.",
        }
        for j in range(1, 6)
    ]
    samples.append({"step": 300, "tokens": 300 * 1024, "prompt": "Tom said", "text": EVIL})
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples), "utf-8")
    split = {
        "documents": 100,
        "dropped_short": 2,
        "dropped_long": 1,
        "tokens": val_tokens,
        "bytes": val_bytes,
        "shards": [{"file": "val_000000.bin", "tokens": val_tokens, "sha256": "0" * 64}],
    }
    meta = {
        "format": "gptlab-dataset",
        "format_version": 1,
        "source": "builtin",
        "created": "2025-01-01T00:00:00+00:00",
        "tokenizer": {"kind": tokenizer, "vocab_size": vocab_size},
        "vocab_size": vocab_size,
        "eos_id": 0,
        "token_dtype": "uint16",
        "filter": {"min_tokens": 0, "max_tokens": 0},
        "val_fraction": 0.1,
        "seed": 0,
        "splits": {
            "train": {**split, "documents": 900, "tokens": 9 * val_tokens, "bytes": 9 * val_bytes},
            "val": split,
        },
    }
    (run / "dataset_meta.json").write_text(json.dumps(meta), "utf-8")
    env = {
        "created": "2025-01-02 10:00 UTC",
        "device": "cpu",
        "git_commit": "abc123def4567890",
        "command_line": ["gptlab", "train", "--preset", "tiny"],
    }
    (run / "env.json").write_text(json.dumps(env), "utf-8")
    return run


def test_report_is_self_contained_and_complete(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text("utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == 10  # every run plot but MFU (null in these records) and model stats
    for tag in images:
        src = re.search(r'src="([^"]+)"', tag)
        assert src and src.group(1).startswith("data:image/png;base64,")
        png = base64.b64decode(src.group(1).split(",", 1)[1])
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "<script" not in page.lower().replace("&lt;script", "")
    for text in (
        "Training curves",
        "Generalisation gap",
        "Samples during training",
        "Dataset",
        "Configuration",
        "abc123def456",
        "gptlab train --preset tiny",
        "max_steps",
        "dropped short",
    ):
        assert text in page, text


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    run = make_run(tmp_path, "<b>run</b>")
    page = write_report(run).read_text("utf-8")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;" in page
    assert "&lt;b&gt;run&lt;/b&gt;" in page and "<b>run</b>" not in page


def test_summary_numbers(tmp_path: Path) -> None:
    s = summarize_run(make_run(tmp_path, val_tokens=1000, val_bytes=4000))
    val = s.metrics.eval[-1]["val_loss"]
    assert s.final("val_loss") == pytest.approx(val)
    assert s.val_loss.value == pytest.approx(val)  # no eval.json: the training-time estimate
    assert s.val_loss.source.endswith(f"at step {s.metrics.eval[-1]['step']:,}")
    assert s.gap.value == pytest.approx(0.10)
    assert s.bits_per_byte.value == pytest.approx(val / math.log(2) * 1000 / 4000)
    assert s.tokens_seen == 300 * 1024
    assert s.wall_s == 30.0
    assert s.params is not None and s.params.total > s.params.non_embedding > 0
    assert s.shape == "2L/2H/64W/ctx64"


def test_report_is_idempotent(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    first = write_report(run).read_bytes()
    plots = {p.name: p.read_bytes() for p in (run / "plots").iterdir()}
    second = write_report(run).read_bytes()
    assert first == second
    assert plots == {p.name: p.read_bytes() for p in (run / "plots").iterdir()}


def test_optional_files_missing_or_odd(tmp_path: Path) -> None:
    run = make_run(tmp_path, n_eval=1)
    for name in ("samples.jsonl", "dataset_meta.json", "env.json"):
        (run / name).unlink()
    (run / "config.toml").write_text("[model]\nn_layer = 'many'\n", "utf-8")
    page = write_report(run).read_text("utf-8")
    assert "Only one evaluation so far" in page
    assert "config.toml could not be read" in page
    assert "No samples were logged" in page


def test_eval_json_and_viz_pictures_are_shown(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    results = {
        "split:val": {
            "loss": 1.234,
            "ppl": 3.43,
            "bits_per_byte": 1.78,
            "acc": 0.41,
            "acc_top5": 0.7,
            "tokens": 5000,
            "bytes": 20000,
            "step": 10**6,
        },
        "hellaswag": {"acc": 0.25, "acc_norm": 0.26, "count": 100, "step": 10**6},
    }
    (run / "eval.json").write_text(json.dumps(results), "utf-8")
    (run / "viz").mkdir()
    shutil.copy(write_report(run).parent / "plots" / "lr.png", run / "viz" / "attention_l0.png")
    page = write_report(run).read_text("utf-8")
    assert "hellaswag" in page and "1.2340" in page
    # The card shows the full-split result and says so; HellaSwag with its standard error.
    assert "gptlab eval, full val split" in page or "gptlab eval, first 5,000 val tokens" in page
    assert "26.0% ± 4.4" in page and "chance 25%" in page
    assert "attention_l0.png" in page and page.count("<img") == 11


def test_missing_run_or_metrics_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist: train first"):
        write_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no metrics\.jsonl.*train first"):
        write_report(tmp_path / "empty")


def test_every_evaluated_checkpoint_is_listed(tmp_path: Path) -> None:
    from gptlab.evaluate import merge_eval_file

    run = make_run(tmp_path, "run")
    merge_eval_file(run, {"split:val": {"loss": 3.25, "step": 2}})
    assert "Every checkpoint evaluated" not in write_report(run).read_text("utf-8")
    merge_eval_file(run, {"split:val": {"loss": 2.75, "step": 4}, "hellaswag": {"acc_norm": 0.3}})
    page = write_report(run).read_text("utf-8")
    assert "Every checkpoint evaluated" in page
    assert "<td>2</td><td>loss</td><td>3.2500</td>" in page
    assert "<td>4</td><td>loss</td><td>2.7500</td>" in page
