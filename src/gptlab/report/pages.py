"""Every gptlab HTML page is rendered here, from the Jinja2 templates in report/templates/.

Pages extend templates/base.html (one header, one stylesheet, one footer) and receive what they
show as plain values; the numbers themselves come from report/summary.py. Autoescaping is on and
undefined names raise, so a typo in a template fails a test instead of printing an empty cell.
Trade-off: the stylesheet is inlined into every page (a few KB each) so one page is one file that
opens offline, sent by mail or copied out of the run folder.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from gptlab.report.formatting import (
    fmt_count,
    fmt_duration,
    fmt_float,
    fmt_percent,
    png_data_uri,
)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gptlab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt_float=fmt_float,
        fmt_percent=fmt_percent,
        fmt_duration=fmt_duration,
        fmt_count=fmt_count,
        png_data_uri=png_data_uri,
    )
    return env


def stylesheet() -> str:
    """The shared stylesheet (templates/style.css), inlined by base.html."""
    loader = _environment().loader
    assert loader is not None  # set in _environment
    source, _filename, _uptodate = loader.get_source(_environment(), "style.css")
    return source


def render_page(template_name: str, **context: Any) -> str:
    """Render templates/<template_name> with context; the result is one self-contained page.

    The template extends base.html; see the comment at its top for its blocks and variables.
    """
    template = _environment().get_template(template_name)
    return template.render(stylesheet=stylesheet(), **context)
