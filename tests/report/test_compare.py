"""compare_runs: ranking, bits per byte across tokenizers, the files it writes."""

from __future__ import annotations

import csv
import importlib.util
import math
import re
from pathlib import Path
from types import ModuleType

import pytest

from gptlab.errors import CheckpointError
from gptlab.report import compare_runs


def _fixtures() -> ModuleType:
    """make_run from test_html.py (one run-folder builder for every report test)."""
    spec = importlib.util.spec_from_file_location(
        "report_run_fixtures", Path(__file__).with_name("test_html.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_run = _fixtures().make_run


def test_same_tokenizer_ranks_by_val_loss(tmp_path: Path) -> None:
    worse = make_run(tmp_path, "worse", loss_offset=0.5, seed=1)
    better = make_run(tmp_path, "better", loss_offset=0.0, seed=2)
    c = compare_runs([worse, better], tmp_path / "cmp")
    assert c.ranked_by == "val_loss"
    assert [r.name for r in c.rows] == ["better", "worse"]
    assert [r.rank for r in c.rows] == [1, 2]
    assert c.rows[1].val_loss == pytest.approx(c.rows[0].val_loss + 0.5)
    assert c.rows[0].gap == pytest.approx(0.10)
    assert c.rows[0].parameters is not None and c.rows[0].parameters > 0
    assert c.rows[0].preset == "tiny" and c.rows[0].shape == "2L/2H/64W/ctx64"
    assert "bits per byte" not in c.note.split(".")[0]


def test_different_tokenizers_rank_by_bits_per_byte(tmp_path: Path) -> None:
    # Lower loss per token, but each token covers only one byte: worse per byte.
    char = make_run(
        tmp_path,
        "char",
        tokenizer="char",
        vocab_size=65,
        val_tokens=4000,
        val_bytes=4000,
        loss_offset=0.0,
    )
    bpe = make_run(
        tmp_path,
        "bpe",
        tokenizer="bpe",
        vocab_size=512,
        val_tokens=1000,
        val_bytes=4000,
        loss_offset=1.5,
    )
    c = compare_runs([char, bpe], tmp_path / "cmp")
    assert c.ranked_by == "bits_per_byte"
    assert "bits per byte" in c.note and "different tokenizers" in c.note
    by_name = {r.name: r for r in c.rows}
    for row, bytes_per_token in ((by_name["char"], 1.0), (by_name["bpe"], 4.0)):
        assert row.val_loss is not None
        assert row.bits_per_byte == pytest.approx(row.val_loss / math.log(2) / bytes_per_token)
    assert [r.name for r in c.rows] == ["bpe", "char"]
    bpe_loss, char_loss = by_name["bpe"].val_loss, by_name["char"].val_loss
    assert bpe_loss is not None and char_loss is not None and bpe_loss > char_loss
    markdown = (tmp_path / "cmp" / "compare.md").read_text("utf-8")
    assert "bits per byte" in markdown and "| 1 | bpe |" in markdown


def test_outputs_are_written_and_self_contained(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, n, seed=i) for i, n in enumerate(["a", "b", "c"])]
    c = compare_runs(runs, tmp_path / "out")
    names = {p.name for p in c.paths}
    assert {
        "compare.csv",
        "compare.md",
        "compare.html",
        "val_loss_tokens.png",
        "val_loss_steps.png",
        "val_acc.png",
        "val_ppl.png",
        "train_loss.png",
    } <= names
    assert all(p.is_file() for p in c.paths)
    rows = list(csv.DictReader((tmp_path / "out" / "compare.csv").open(encoding="utf-8")))
    assert [r["name"] for r in rows] == [r.name for r in c.rows]
    assert float(rows[0]["val_loss"]) == pytest.approx(c.rows[0].val_loss)
    page = (tmp_path / "out" / "compare.html").read_text("utf-8")
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 9 and all(i.startswith("data:image/png;base64,") for i in images)
    markdown = (tmp_path / "out" / "compare.md").read_text("utf-8")
    assert markdown.count("\n| ") == 4  # header + three runs


def test_same_folder_names_are_told_apart(tmp_path: Path) -> None:
    a = make_run(tmp_path / "sweep1", "run")
    b = make_run(tmp_path / "sweep2", "run")
    c = compare_runs([a, b], tmp_path / "cmp")
    assert sorted(r.name for r in c.rows) == ["sweep1/run", "sweep2/run"]


def test_a_missing_run_is_named(tmp_path: Path) -> None:
    good = make_run(tmp_path, "good")
    with pytest.raises(CheckpointError, match=r"nothere.*does not exist"):
        compare_runs([good, tmp_path / "nothere"], tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_default_out_dir_is_compare_in_the_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path, "only")
    monkeypatch.chdir(tmp_path)
    c = compare_runs([run])
    assert (tmp_path / "compare" / "compare.html").is_file()
    assert len(c.rows) == 1


def test_mixed_val_sources_are_called_out(tmp_path: Path) -> None:
    import json

    evaluated = make_run(tmp_path, "evaluated", loss_offset=0.0, seed=1)
    estimated = make_run(tmp_path, "estimated", loss_offset=0.1, seed=2)
    full = {"split:val": {"loss": 2.5, "perplexity": math.exp(2.5), "step": 10**6}}
    (evaluated / "eval.json").write_text(json.dumps(full), "utf-8")
    c = compare_runs([evaluated, estimated], tmp_path / "cmp")
    assert c.ranked_by == "val_loss"
    assert "Careful" in c.note and "gptlab eval" in c.note
    assert "Careful" not in compare_runs([estimated], tmp_path / "one").note


def test_preset_column_names_the_preset_the_run_started_from(tmp_path: Path) -> None:
    import dataclasses

    from gptlab.report import summarize_run

    s = summarize_run(make_run(tmp_path, "r", loss_offset=0.0, seed=1))
    started = ["gptlab", "train", "--preset", "seed-29m", "--set", "model.n_embd=128"]
    # Started from seed-29m, reshaped to tiny's shape: named by its start, not by the match.
    assert (
        dataclasses.replace(s, env={"command_line": started}).preset_label == "seed-29m, reshaped"
    )
    as_tiny = ["gptlab", "train", "--preset", "tiny"]
    assert dataclasses.replace(s, env={"command_line": as_tiny}).preset_label == "tiny"
    joined = ["gptlab", "train", "--preset=seed-29m", "--set", "model.n_embd=128"]
    assert dataclasses.replace(s, env={"command_line": joined}).preset_label == "seed-29m, reshaped"
    assert dataclasses.replace(s, env=None).preset_label == "shape of tiny"  # e.g. imported
