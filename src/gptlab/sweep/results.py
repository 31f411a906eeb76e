"""The final figures of a finished trial's run folder, read from its metrics.jsonl."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.jsonio import JSON_ERRORS


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of <run_dir>/metrics.jsonl; a torn last line (a killed run) is skipped."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(*JSON_ERRORS):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def run_results(run_dir: Path) -> dict[str, Any]:
    """Final figures of a run from its metrics.jsonl (empty when it has no eval record).

    Data without a val split is normal for tiny corpora: its evaluations measure the train
    split only, and the figures then hold train_* values and no val_* ones.
    """
    records = read_metrics(run_dir)
    evals = [
        r
        for r in records
        if r.get("kind") == "eval"
        and (r.get("val_loss") is not None or r.get("train_loss") is not None)
    ]
    if not evals:
        return {}
    last = evals[-1]
    end = next((r for r in reversed(records) if r.get("kind") == "end"), None)
    tail = end or records[-1]
    results: dict[str, Any] = {
        key: last.get(key)
        for key in ("val_loss", "val_ppl", "val_acc", "train_loss", "train_ppl", "train_acc")
    }
    with_val = [r for r in evals if r.get("val_loss") is not None]
    if with_val:
        best = min(with_val, key=lambda r: float(r["val_loss"]))
        if last.get("train_loss") is not None and last.get("val_loss") is not None:
            results["gap"] = float(last["val_loss"]) - float(last["train_loss"])
        results["best_val_loss"] = float(best["val_loss"])
        results["best_val_step"] = best.get("step")
    results["steps"] = tail.get("step")
    results["tokens"] = tail.get("tokens")
    results["elapsed_s"] = tail.get("elapsed_s")
    results["end_reason"] = end.get("reason") if end else None
    return results


@dataclass(frozen=True)
class Sample:
    """One text the model wrote from a prompt during training."""

    step: int
    prompt: str
    text: str


def last_samples(run_dir: Path) -> list[Sample]:
    """The samples of the latest step in <run_dir>/samples.jsonl (empty when there are none)."""
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return []
    samples = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(*JSON_ERRORS):
            record = json.loads(line)
            if (
                isinstance(record, dict)
                and isinstance(record.get("step"), int)
                and isinstance(record.get("text"), str)
            ):
                prompt = record.get("prompt")
                samples.append(
                    Sample(
                        record["step"], prompt if isinstance(prompt, str) else "", record["text"]
                    )
                )
    if not samples:
        return []
    last = max(s.step for s in samples)
    return [s for s in samples if s.step == last]
