"""Tests for `gptlab prepare`: a real run on the built-in corpus and the bad inputs it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptlab.cli import main
from gptlab.data.prepare import load_meta, verify_dataset


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    rc = main(["prepare", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _assert_refused(rc: int, out: str, err: str, tmp_path: Path, *needles: str) -> None:
    assert rc == 2, (out, err)
    assert "Traceback" not in out + err
    flat = " ".join(err.split())
    for needle in needles:
        assert needle in flat, flat
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


def test_prepare_builtin_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "ds"
    rc, out, err = _run(
        capsys,
        [
            "builtin",
            "--stories",
            "200",
            "--tokenizer",
            "char",
            "--out",
            str(out_dir),
            "--workers",
            "1",
        ],
    )
    assert rc == 0, err
    verify_dataset(out_dir)
    meta = load_meta(out_dir)
    assert meta["source"] == "builtin"
    assert meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == 200
    for word in ("train", "val", "documents", "dropped short", "dropped long", "tokens/s", "ds"):
        assert word in out


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.txt"
    rc, out, err = _run(
        capsys, [str(missing), "--tokenizer", "byte", "--out", str(tmp_path / "ds")]
    )
    _assert_refused(rc, out, err, tmp_path, "nope.txt")


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    rc, out, err = _run(capsys, [str(empty), "--tokenizer", "byte", "--out", str(tmp_path / "ds")])
    _assert_refused(rc, out, err, tmp_path, "empty.txt", "empty")


def test_non_utf8_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin.txt"
    bad.write_bytes("Caf\u00e9 au lait.\n\nUn autre document.\n".encode("latin-1"))
    rc, out, err = _run(capsys, [str(bad), "--tokenizer", "byte", "--out", str(tmp_path / "ds")])
    _assert_refused(rc, out, err, tmp_path, "latin.txt", "--encoding")
    rc, out, err = _run(
        capsys,
        [str(bad), "--tokenizer", "byte", "--encoding", "latin-1", "--out", str(tmp_path / "ds")],
    )
    assert rc == 0, err
    assert load_meta(tmp_path / "ds")["source_options"] == {"encoding": "latin-1"}


def test_unknown_dataset_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        capsys, ["tinystoriez", "--tokenizer", "byte", "--out", str(tmp_path / "ds")]
    )
    _assert_refused(rc, out, err, tmp_path, "Unknown dataset", "tinystories")


def test_output_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    rc, out, err = _run(
        capsys, ["builtin", "--stories", "5", "--tokenizer", "byte", "--out", str(out_dir)]
    )
    assert rc == 2
    assert "Traceback" not in out + err
    assert "--overwrite" in " ".join(err.split())
    assert (out_dir / "keep.txt").read_text() == "mine"


def test_min_tokens_above_max_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        capsys,
        [
            "builtin",
            "--tokenizer",
            "byte",
            "--min-tokens",
            "9",
            "--max-tokens",
            "3",
            "--out",
            str(tmp_path / "ds"),
        ],
    )
    _assert_refused(rc, out, err, tmp_path, "--min-tokens")


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["prepare", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert rc == 0
    for option in (
        "--out",
        "--tokenizer",
        "--vocab-size",
        "--min-tokens",
        "--max-tokens",
        "--val-fraction",
        "--workers",
        "--text-field",
        "--split-mode",
        "--encoding",
        "--errors",
        "--stories",
        "--hub-config",
        "--streaming",
        "--overwrite",
        "Examples",
    ):
        assert option in out


def test_one_text_with_val_fraction_says_how_val_was_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "story.txt"
    # Written for this test: one paragraph of Chinese, a single document.
    text.write_text("今天下雨了，我们在家里画画。弟弟画了一只大象，我画了一座山。" * 4, "utf-8")
    rc, out, err = _run(
        capsys,
        [str(text), "--tokenizer", "char", "--val-fraction", "0.2", "--out", str(tmp_path / "ds")],
    )
    assert rc == 0, err
    flat_out, flat_err = " ".join(out.split()), " ".join(err.split())
    assert "val split: the last 20% of the train tokens, contiguous (the source is a single" in (
        flat_out
    )
    assert "warning: The val split holds only" in flat_err
    assert load_meta(tmp_path / "ds")["splits"]["val"]["tokens"] > 0


def test_unknown_split_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, ["builtin", "--split", "tail", "--out", str(tmp_path / "ds")])
    _assert_refused(rc, out, err, tmp_path, "--split tail is not one of")
