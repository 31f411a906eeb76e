"""The sweep summary page (summary.html): one self-contained HTML file, pictures inlined."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from gptlab.sweep.analysis import ParameterEffect, effect_rows
from gptlab.sweep.spec import ID_UNSAFE, SweepSpec


def _html_table(header: list[str], rows: list[list[str]], failed_col: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        css = ' class="failed"' if failed_col is not None and row[failed_col] == "failed" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def summary_html(
    spec: SweepSpec,
    status_line: str,
    header: list[str],
    rows: list[list[str]],
    effects: list[ParameterEffect],
    plots: dict[str, bytes],
    ranking_lines: list[str],
    compare_page: Path | None,
    compare_note: str,
) -> str:
    def img(name: str) -> str:
        data = base64.b64encode(plots[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep {html.escape(spec.name)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}",
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}",
        "th{background:#f0f0f0} tr.failed{color:#a00} img{max-width:100%}",
        "</style></head><body>",
        f"<h1>Sweep {html.escape(spec.name)}</h1>",
        f"<p>Spec <code>{html.escape(str(spec.path))}</code>, method {html.escape(spec.method)}, "
        f"preset {html.escape(spec.preset)}, metric <code>{html.escape(spec.metric)}</code> "
        f"(lower is better). Trials: {html.escape(status_line or 'none')}.</p>",
        "<h2>Trials, best first</h2>",
        _html_table(header, rows, failed_col=header.index("status")),
        "<h2>Which parameter mattered</h2><ol>",
        *(f"<li>{html.escape(line.split('. ', 1)[1])}</li>" for line in ranking_lines),
        "</ol>",
    ]
    for effect in effects:
        parts.append(f"<h3>{html.escape(effect.name)}</h3>")
        parts.append(_html_table(*effect_rows(effect)))
        parts.append(img(f"effect_{ID_UNSAFE.sub('-', effect.name)}.png"))
    if "curves.png" in plots:
        parts += ["<h2>Curves and generalization gap</h2>", img("curves.png")]
    if compare_page is not None and compare_page.is_file():
        link = compare_page.relative_to(spec.out_dir).as_posix()
        parts.append(f'<p><a href="{html.escape(link)}">Compare page of all finished runs</a></p>')
    else:
        parts.append(f"<p>{html.escape(compare_note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
