"""Tests for gptlab.eval_history: every eval result kept with its step."""

from __future__ import annotations

import math
from pathlib import Path

from gptlab.eval_history import (
    EVAL_HISTORY_FILE,
    append_eval_history,
    history_by_step,
    read_eval_history,
)


def test_results_of_several_checkpoints_are_all_kept(tmp_path: Path) -> None:
    assert read_eval_history(tmp_path) == []
    append_eval_history(tmp_path, {"split:val": {"loss": 3.0, "step": 100}})
    append_eval_history(
        tmp_path,
        {"split:val": {"loss": 2.5, "step": 200}, "hellaswag": {"acc": 0.3, "step": 200}},
    )
    # The same checkpoint evaluated again: the newest result of a step counts.
    append_eval_history(tmp_path, {"split:val": {"loss": 2.4, "step": 200, "ppl": math.inf}})
    records = read_eval_history(tmp_path)
    assert [(r["key"], r["step"]) for r in records] == [
        ("split:val", 100),
        ("split:val", 200),
        ("hellaswag", 200),
        ("split:val", 200),
    ]
    assert records[-1]["ppl"] is None  # JSON has no inf
    val = history_by_step(tmp_path, "split:val")
    assert [(r["step"], r["loss"]) for r in val] == [(100, 3.0), (200, 2.4)]


def test_a_damaged_line_does_not_lose_the_others(tmp_path: Path) -> None:
    append_eval_history(tmp_path, {"split:val": {"loss": 3.0, "step": 1}})
    path = tmp_path / EVAL_HISTORY_FILE
    path.write_text(path.read_text() + '{"key": "split:val", "ste\n[1, 2]\n')
    append_eval_history(tmp_path, {"split:val": {"loss": 2.0, "step": 2}})
    assert [r["step"] for r in read_eval_history(tmp_path)] == [1, 2]
    assert path.read_text().count("\n") == 2


def test_merge_eval_file_keeps_the_latest_in_eval_json_and_every_step_in_the_history(
    tmp_path: Path,
) -> None:
    import json

    from gptlab.evaluate import merge_eval_file

    merge_eval_file(tmp_path, {"split:val": {"loss": 3.0, "step": 10}})
    merge_eval_file(tmp_path, {"split:val": {"loss": 2.0, "step": 20}, "hellaswag": {"step": 20}})
    assert json.loads((tmp_path / "eval.json").read_text())["split:val"]["loss"] == 2.0
    assert [r["loss"] for r in history_by_step(tmp_path, "split:val")] == [3.0, 2.0]
    assert len(read_eval_history(tmp_path)) == 3
