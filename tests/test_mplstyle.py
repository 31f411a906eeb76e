"""Tests for gptlab.mplstyle: CJK glyphs from a fallback font, or one warning without one."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

from gptlab import mplstyle


def _draw(text: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mplstyle.plain_text():
        figure = Figure(figsize=(3, 1))
        FigureCanvasAgg(figure)
        figure.text(0.1, 0.5, text)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_cjk_text_draws_without_missing_glyphs_when_a_font_is_installed() -> None:
    if not mplstyle.fallback_fonts():
        pytest.skip("no CJK font installed (optional: apt-get install fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would be a warning
        png = _draw("小猫在花园里玩。$5")
    assert png[:4] == b"\x89PNG"
    assert any("CJK" in name for name in mplstyle.fallback_fonts())


def test_without_a_font_one_warning_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mplstyle, "fallback_fonts", lambda: ())
    monkeypatch.setattr(mplstyle, "_missing_glyphs_warned", False)
    with caplog.at_level(logging.WARNING, logger="gptlab.mplstyle"), warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's per-glyph warnings must not escape
        _draw("北京的冬天很冷")
        _draw("上海的夏天很热")
    messages = [r.getMessage() for r in caplog.records if r.name == "gptlab.mplstyle"]
    assert len(messages) == 1
    assert "fonts-noto-cjk" in messages[0] and "北" in messages[0]


def _line_with_a_chinese_legend(ax: Any) -> None:
    ax.plot([0, 1], [1, 0], label="运行二")
    ax.legend()


def test_run_plots_draw_cjk_run_names_with_the_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gptlab.report.figures import render

    if not mplstyle.fallback_fonts():
        pytest.skip("no CJK font installed (optional: apt-get install fonts-noto-cjk)")
    monkeypatched_flag = mplstyle._missing_glyphs_warned
    mplstyle._missing_glyphs_warned = False  # a warning earlier in the process would hide ours
    try:
        with caplog.at_level(logging.WARNING):
            render(tmp_path / "zh.png", _line_with_a_chinese_legend)
    finally:
        mplstyle._missing_glyphs_warned = monkeypatched_flag
    assert "no glyph" not in caplog.text
    assert (tmp_path / "zh.png").read_bytes()[:4] == b"\x89PNG"
