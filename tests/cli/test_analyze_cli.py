"""Tests for `gptlab analyze`: files and tables from a real run, and the bad inputs it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptlab.cli import main


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    rc = main(["analyze", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_analyze_source_writes_files_and_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("The cat sat. The dog ran!\n\nA cat and a dog? Yes.\n")
    (folder / "val.txt").write_text("The cat slept.\n")
    out = tmp_path / "report"
    rc, stdout, stderr = _run(
        capsys,
        [str(folder), "--tokenizer", "byte", "--out", str(out), "--context", "20", "--top-k", "3"],
    )
    assert rc == 0, stderr
    for name in (
        "analysis.json",
        "analysis.md",
        "token_lengths.png",
        "top_words.png",
        "train_val_top_words.png",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "analysis.json").read_text())
    assert saved["total"]["documents"] == 3
    assert saved["contexts"] == [20]
    flat = _flat(stdout)
    for needle in ("documents", "words / sentence", "type-token ratio", "Jaccard", "cat", "total"):
        assert needle in flat, needle
    assert "Traceback" not in stdout + stderr


def test_analyze_builtin_dataset_default_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ds"
    assert (
        main(
            [
                "prepare",
                "builtin",
                "--stories",
                "120",
                "--tokenizer",
                "byte",
                "--out",
                str(dataset),
                "--workers",
                "1",
                "--val-fraction",
                "0.2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    rc, stdout, stderr = _run(capsys, [str(dataset), "--context", "128"])
    assert rc == 0, stderr
    saved = json.loads((dataset / "analysis" / "analysis.json").read_text())
    assert saved["kind"] == "dataset"
    assert saved["total"]["documents"] == 120
    assert saved["consistency"] is not None
    assert "Train/val consistency" in stdout


def test_builtin_source_default_out_in_working_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = _run(
        capsys, ["builtin", "--stories", "60", "--tokenizer", "byte", "--max-documents", "40"]
    )
    assert rc == 0, stderr
    saved = json.loads((tmp_path / "analysis-builtin" / "analysis.json").read_text())
    assert saved["total"]["documents"] == 40
    assert not (tmp_path / "analysis-builtin" / "train_val_top_words.png").exists()
    assert "no val split" in _flat(stdout + stderr).lower()


def _assert_refused(rc: int, stdout: str, stderr: str, tmp_path: Path, *needles: str) -> None:
    assert rc == 2, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    flat = _flat(stderr)
    assert flat.startswith("error:"), flat
    for needle in needles:
        assert needle in flat, flat
    leftovers = [p.name for p in tmp_path.iterdir() if "analysis" in p.name or p.name == "out"]
    assert leftovers == []


def test_missing_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = _run(capsys, [str(tmp_path / "nope.txt"), "--tokenizer", "byte"])
    _assert_refused(rc, stdout, stderr, tmp_path, "nope.txt", "Check the path")


def test_empty_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    rc, stdout, stderr = _run(
        capsys, ["empty.txt", "--tokenizer", "byte", "--out", str(tmp_path / "out")]
    )
    _assert_refused(rc, stdout, stderr, tmp_path, "empty")


def test_folder_that_is_neither_dataset_nor_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "image.png").write_bytes(b"\x89PNG")
    rc, stdout, stderr = _run(capsys, [str(folder), "--tokenizer", "byte"])
    _assert_refused(rc, stdout, stderr, tmp_path, "no supported files")


def test_bad_option_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = _run(capsys, ["builtin", "--top-k", "0", "--tokenizer", "byte"])
    _assert_refused(rc, stdout, stderr, tmp_path, "top_k=0")
    rc, stdout, stderr = _run(capsys, ["builtin", "--context", "-5", "--tokenizer", "byte"])
    _assert_refused(rc, stdout, stderr, tmp_path, "positive lengths")
