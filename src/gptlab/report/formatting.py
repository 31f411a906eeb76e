"""How numbers read on every page and in the terminal: one formatter per kind of value.

A missing or non-finite value is always "-", so a page never shows "nan" or "None".
"""

from __future__ import annotations

import base64
import math

from gptlab.report.figures import format_count


def fmt_float(value: float | None, digits: int = 4) -> str:
    """4 decimals for everyday values, 4 significant digits for very large or small ones."""
    if value is None or not math.isfinite(value):
        return "-"
    return (
        f"{value:.{digits}g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.{digits}f}"
    )


def fmt_percent(value: float | None, digits: int = 1) -> str:
    """A fraction (0.4213) as a percentage (42.1%)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100.0 * value:.{digits}f}%"


def fmt_duration(seconds: float | None) -> str:
    """12.3 s, 2m 20s, 1h 05m."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_count(value: float | None) -> str:
    """950, 12.3K, 4.56M."""
    return "-" if value is None else format_count(value)


def png_data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page that shows it stays one file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
