"""The page layer: one base layout, autoescaped, strict about undefined names, one file per page."""

from __future__ import annotations

import jinja2
import pytest

from gptlab.report.pages import render_page, stylesheet


def test_base_layout_inlines_the_stylesheet_and_escapes() -> None:
    page = render_page("base.html", nav=[("#a", "<b>A</b>")], footer="x < y")
    assert page.startswith("<!DOCTYPE html>")
    assert stylesheet().strip()[-20:] in page  # the stylesheet is inside the page, not linked
    assert "<link" not in page
    assert "&lt;b&gt;A&lt;/b&gt;" in page and "x &lt; y" in page


def test_a_missing_template_variable_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_page("report.html")
