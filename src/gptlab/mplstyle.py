"""The matplotlib settings every gptlab picture is drawn with, whichever module draws it.

Text in pictures comes from the user: run folder names, a prompt's tokens, corpus words, sweep
values. Matplotlib reads "$...$" in any text as mathtext and fails on "lr_$x^$" or "price$$run",
so every figure is made and saved with math parsing off: "$" is shown as the character it is.

Text may also be Chinese, Japanese or Thai. Matplotlib's default font (DejaVu Sans) has no CJK
glyphs, so installed fonts that cover them are added behind it as fallbacks (matplotlib >= 3.6
takes each glyph from the first font in font.family that has it). Such a font is optional: without
one, CJK characters show as boxes and one warning says how to install a font, instead of
matplotlib's warning per missing glyph.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

logger = logging.getLogger(__name__)

PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False}
"""rcParams under which text is drawn as written (matplotlib >= 3.5 has text.parse_math)."""
FALLBACK_FONT_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Arial Unicode MS",
    "Noto Sans Thai",
)
"""Fonts tried, in this order, as fallbacks for glyphs DejaVu Sans lacks (CJK, Thai)."""
_FALLBACK_FILE = re.compile(
    r"(NotoSansCJK|NotoSansThai|SourceHanSans|wqy-(zenhei|microhei)|DroidSansFallback)",
    re.IGNORECASE,
)
"""Font files of FALLBACK_FONT_FAMILIES installed after matplotlib built its font cache."""
INSTALL_HINT = (
    "Install a font that covers them (Debian/Ubuntu: apt-get install fonts-noto-cjk; Fedora: "
    "dnf install google-noto-sans-cjk-fonts; macOS and Windows have one) and draw again."
)
_missing_glyphs_warned = False


@functools.cache
def fallback_fonts() -> tuple[str, ...]:
    """Installed fallback font families from FALLBACK_FONT_FAMILIES, found once per process.

    Fonts installed after matplotlib cached its font list are looked up on disk and registered.
    """
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    if not any(name in known for name in FALLBACK_FONT_FAMILIES):
        for path in font_manager.findSystemFonts():
            if _FALLBACK_FILE.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        known = {font.name for font in font_manager.fontManager.ttflist}
    return tuple(name for name in FALLBACK_FONT_FAMILIES if name in known)


def style() -> dict[RcKeyType, Any]:
    """PLAIN_TEXT plus the font list: the default sans-serif font first, then the fallbacks."""
    import matplotlib

    families = list(matplotlib.rcParams["font.family"])
    return {**PLAIN_TEXT, "font.family": [*families, *fallback_fonts()]}


@contextmanager
def plain_text() -> Iterator[None]:
    """Context for making and saving a figure: its text is shown as written, "$" included, with
    fallback fonts for CJK; missing glyphs give one warning per process, not one per glyph."""
    import matplotlib

    with warnings.catch_warnings(record=True) as caught, matplotlib.rc_context(style()):
        warnings.simplefilter("always")
        yield
    missing = []
    for warning in caught:
        text = str(warning.message)
        match = re.match(r"Glyph (\d+) .*missing from", text)
        if match:
            missing.append(chr(int(match.group(1))))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if missing:
        _warn_missing_glyphs(missing)


def _warn_missing_glyphs(missing: list[str]) -> None:
    global _missing_glyphs_warned
    if _missing_glyphs_warned:
        return
    _missing_glyphs_warned = True
    shown = list(dict.fromkeys(missing))[:5]
    examples = ", ".join(shown)
    logger.warning(
        "Some characters in the pictures (%s) have no glyph in the installed fonts and show as "
        "boxes. %s",
        examples,
        INSTALL_HINT,
    )
