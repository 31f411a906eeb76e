"""RUN/eval_history.jsonl: every `gptlab eval` result with the checkpoint step it scored.

eval.json keeps {key: latest result} so its readers keep working; this file keeps them all, one
JSON line per result ({"key": ..., "step": ..., ...}), oldest first, so evaluations of several
checkpoints of one run can be compared and plotted over steps. This module is its only reader
and writer.

Trade-off: appending rewrites the file atomically (old lines + new ones) rather than appending in
place: a few kilobytes per call, and a crash never leaves half a line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gptlab.fileio import atomic_write_text

EVAL_HISTORY_FILE = "eval_history.jsonl"


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_eval_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every recorded result, oldest first; lines that are not a JSON object are skipped."""
    path = Path(run_dir) / EVAL_HISTORY_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line from another program or a damaged copy; the rest still count
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            out.append(record)
    return out


def append_eval_history(run_dir: str | Path, results: dict[str, dict[str, Any]]) -> Path:
    """Add results ({key: result with its "step"}) to RUN/eval_history.jsonl, atomically."""
    path = Path(run_dir) / EVAL_HISTORY_FILE
    kept = [json.dumps(record) for record in read_eval_history(run_dir)]
    added = [
        json.dumps({"key": key, **{k: _finite_or_none(v) for k, v in result.items()}})
        for key, result in results.items()
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept + added))
    return path


def history_by_step(run_dir: str | Path, key: str) -> list[dict[str, Any]]:
    """The results of one key (e.g. "split:val", "hellaswag"), one per checkpoint step (the
    newest evaluation of a step wins), in step order."""
    by_step: dict[int, dict[str, Any]] = {}
    for record in read_eval_history(run_dir):
        step = record.get("step")
        if record["key"] == key and isinstance(step, int) and not isinstance(step, bool):
            by_step[step] = record
    return [by_step[step] for step in sorted(by_step)]
