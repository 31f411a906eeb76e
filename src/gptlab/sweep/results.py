"""What a finished trial's run folder holds: its headline numbers, metric records and samples.

The headline numbers come from report.summary (RunSummary), so a trial's val and train loss mean
exactly what they mean in report.html and compare.
"""

from __future__ import annotations

import contextlib
import json
import math
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
    """A finished trial's headline numbers, as report and compare define them (RunSummary).

    Empty when the run recorded no loss at all. Data without a val split is normal for tiny
    corpora: the figures then hold train values and no val ones. `sources` says how each loss
    was measured (e.g. "mean of last 5 steps at step 60", "2-batch estimate at step 60");
    train_ppl is exp(train_loss), the perplexity of that same number.
    """
    from gptlab.errors import GptlabError
    from gptlab.report.summary import summarize_run

    try:
        summary = summarize_run(run_dir)
    except GptlabError:
        return {}
    headline = summary.headline()
    if headline["val_loss"] is None and headline["train_loss"] is None:
        return {}
    results: dict[str, Any] = {k: v for k, v in headline.items() if v is not None}
    if "train_loss" in results:
        results["train_ppl"] = math.exp(results["train_loss"])
    results["sources"] = {
        "train_loss": summary.train_loss.source,
        "val_loss": summary.val_loss.source,
        "gap": summary.gap.source,
        "best_val_loss": summary.best_val_loss.source,
    }
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
