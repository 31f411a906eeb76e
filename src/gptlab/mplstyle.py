"""The matplotlib settings every gptlab picture is drawn with, whichever module draws it.

Text in pictures comes from the user: run folder names, a prompt's tokens, corpus words, sweep
values. Matplotlib reads "$...$" in any text as mathtext and fails on "lr_$x^$" or "price$$run",
so every figure is made and saved with math parsing off: "$" is shown as the character it is.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PLAIN_TEXT: dict[RcKeyType, Any] = {"text.parse_math": False}
"""rcParams under which text is drawn as written (matplotlib >= 3.5 has text.parse_math)."""


def plain_text() -> AbstractContextManager[Any]:
    """Context for making and saving a figure: its text, "$" included, is shown as written."""
    import matplotlib

    return matplotlib.rc_context(PLAIN_TEXT)
