"""The look of every gptlab figure: palette, rcParams, and the helpers that draw and write PNGs.

Figures are drawn on Matplotlib's Agg canvas in our own style, never through pyplot's global state.
Trade-off: every PNG has a fixed size and dpi and no timestamp, so the same data give byte-identical
files; the price is static pictures only (no zoom, no hover).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter
from matplotlib.typing import RcKeyType

from gptlab.fileio import atomic_write_bytes
from gptlab.mplstyle import PLAIN_TEXT, fallback_fonts, plain_text

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
"""Run colours for overlays, in order; the first two are also train (blue) and val (red)."""
TRAIN_COLOR = "#2563eb"
TRAIN_RAW_COLOR = "#93c5fd"
VAL_COLOR = "#dc2626"
GAP_COLOR = "#f59e0b"
NEUTRAL_COLOR = "#4b5563"

FIGSIZE_IN = (8.0, 4.5)
DPI = 110

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": FIGSIZE_IN,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    # DejaVu ships with Matplotlib, so the pictures look the same on every machine.
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 13.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "axes.labelsize": 11,
    "axes.labelcolor": "#374151",
    "axes.edgecolor": "#9ca3af",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.frameon": False,
    "legend.fontsize": 10,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "svg.hashsalt": "gptlab",
    **PLAIN_TEXT,
}
"""Our rcParams, applied only while a figure is drawn (matplotlib.rc_context)."""


def format_count(value: float) -> str:
    """A count in short form: 950, 12.3K, 4.56M, 1.2B."""
    if not math.isfinite(value):
        return "-"
    magnitude = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= threshold:
            scaled = value / threshold
            digits = 0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2
            text = f"{scaled:.{digits}f}"
            # 4.50M -> 4.5M, but 100K stays 100K
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


COUNT_FORMATTER = FuncFormatter(lambda value, _pos: format_count(value))


@dataclass
class Plot:
    """One rendered picture: where it is, what it shows, and the arrays it was drawn from."""

    path: Path
    title: str
    caption: str
    """One line telling a reader how to read the picture."""
    data: dict[str, np.ndarray] = field(default_factory=dict)


def new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def png_bytes(fig: Figure) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    # No "Software" text chunk: the bytes depend only on what was drawn.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


@contextmanager
def styled() -> Iterator[None]:
    """Our rcParams while a figure is drawn, with CJK-capable fallback fonts after ours and one
    warning (not one per glyph) when a character has no glyph at all."""
    with (
        plain_text(),
        matplotlib.rc_context({**STYLE, "font.family": [STYLE["font.family"], *fallback_fonts()]}),
    ):
        yield


def render(path: Path, draw: Callable[[Axes], None]) -> None:
    """Draw on a fresh styled figure and write it atomically as PNG."""
    with styled():
        fig, ax = new_axes()
        draw(ax)
        atomic_write_bytes(path, png_bytes(fig))


def finite(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return x[keep], y[keep]


def set_log_y(ax: Axes) -> None:
    """Log y axis with plain-number labels (4, 6, 20) instead of 4x10^0."""
    ax.set_yscale("log")
    formatter = LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
    ax.yaxis.set_major_formatter(formatter)
    ax.yaxis.set_minor_formatter(formatter)


def legend(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")


def note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=NEUTRAL_COLOR)
