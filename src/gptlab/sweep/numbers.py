"""How a sweep writes a trial's results: the same text in the terminal, summary.md and the page.

The formatters are report.formatting's (shared by every page): losses with 4 decimals,
accuracies as percentages with 1 decimal, durations as 2m 20s; perplexities get 1 decimal
(295.6) and counts thousands separators. A missing value reads "-".
"""

from __future__ import annotations

import math
from typing import Any

from gptlab.report.formatting import fmt_duration, fmt_float, fmt_percent

MISSING = "-"

format_duration = fmt_duration


def format_result(key: str, value: Any) -> str:
    """A result under its key as shown: loss 2.3456, ppl 295.6, acc 41.2%, wall 2m 20s."""
    if value is None or isinstance(value, bool):
        return MISSING
    if not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return MISSING
    if key.endswith("_acc"):
        return fmt_percent(float(value))
    if key.endswith("_ppl"):
        return f"{value:,.1f}"
    if key in ("steps", "tokens", "best_val_step"):
        return f"{int(value):,}"
    if key.endswith("_s"):
        return fmt_duration(float(value))
    return fmt_float(float(value))
