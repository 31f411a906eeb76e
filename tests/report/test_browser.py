"""Every gptlab page opened in headless Chromium: every picture decodes and no table overflows.

A copy of each page gets a small script that, on load, checks each <img> (complete, naturalWidth
> 0), the page width (scrollWidth <= 1280) and each table's right edge against its scroll box, and
writes the result into an element that --dump-dom prints. Skips when no Chromium is installed
(.ci/run installs Debian's chromium when it can).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gptlab.report import compare_runs, write_report

BROWSER = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium binary (apt-get install chromium) for a headless render"
)
VIEWPORT_PX = 1280

PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.alt || i.src.slice(0, 40));
  const wide = [];
  for (const t of document.querySelectorAll('table')) {
    const box = t.closest('.tablewrap') || t.parentElement;
    const past = t.getBoundingClientRect().right > box.getBoundingClientRect().right + 1;
    if (past && box.scrollWidth <= box.clientWidth)
      wide.push(t.className || 'table');
  }
  const out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify({images: imgs.length, broken: broken, wide_tables: wide,
    tables: document.querySelectorAll('table').length,
    scroll_width: document.documentElement.scrollWidth,
    viewport_width: document.documentElement.clientWidth});
  document.body.appendChild(out);
});
</script>"""


def _make_run(root: Path, name: str) -> Path:
    spec = importlib.util.spec_from_file_location(
        "report_run_fixtures", Path(__file__).with_name("test_html.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_run(root, name)  # type: ignore[no-any-return]


def open_in_browser(page: Path, tmp_path: Path, width_px: int = VIEWPORT_PX) -> dict[str, object]:
    """Load a probed copy of the page (beside it, so relative links resolve); the probe's result."""
    copy = page.with_name(f".probe-{page.name}")
    html = page.read_text("utf-8")
    copy.write_text(html.replace("</body>", PROBE + "</body>"), "utf-8")
    assert BROWSER is not None
    try:
        result = subprocess.run(
            [
                BROWSER,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--window-size={width_px},900",
                "--virtual-time-budget=5000",
                "--dump-dom",
                copy.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        copy.unlink()
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _check(page: Path, tmp_path: Path, min_images: int, width_px: int = VIEWPORT_PX) -> None:
    probe = open_in_browser(page, tmp_path, width_px)
    assert probe["broken"] == [], (page.name, probe)
    assert isinstance(probe["images"], int) and probe["images"] >= min_images, (page.name, probe)
    assert probe["wide_tables"] == [], (page.name, probe)
    # Headless Chromium clamps windows below 500 px, so the page is held to its real viewport.
    viewport = probe["viewport_width"]
    assert isinstance(viewport, int) and viewport <= max(width_px, 500), probe
    assert isinstance(probe["scroll_width"], int) and probe["scroll_width"] <= viewport, probe


def test_report_and_compare_pages_render(tmp_path: Path) -> None:
    runs = [_make_run(tmp_path, name) for name in ("a-much-longer-run-name", "b")]
    report = write_report(runs[0])
    _check(report, tmp_path, min_images=8)
    compare = compare_runs(runs, tmp_path / "cmp")
    page = next(p for p in compare.paths if p.name == "compare.html")
    _check(page, tmp_path, min_images=9)
    _check(page, tmp_path, min_images=9, width_px=500)  # phone-sized: the table scrolls in its box


def test_other_pages_render_when_present(tmp_path: Path) -> None:
    """viz/index.html, analysis.html and the sweep summary, drawn by their own commands."""
    from gptlab.cli import main

    data = tmp_path / "d"
    assert (
        main(["prepare", "builtin", "--stories", "200", "--tokenizer", "byte", "--out", str(data)])
        == 0
    )
    pages: list[Path] = []
    if main(["analyze", str(data)]) == 0:
        pages += [p for p in (data / "analysis").glob("*.html")]
    run = tmp_path / "r"
    args = ["train", "--data", str(data), "--preset", "tiny", "--max-steps", "4", "--out", str(run)]
    assert main([*args, "--device", "cpu", "--no-progress"]) == 0
    if main(["viz", str(run), "--prompt", "Once upon a time"]) == 0:
        pages += list((run / "viz").glob("*.html"))
    if not pages:
        pytest.skip("no viz or analysis page is written by this tree yet")
    for page in pages:
        _check(page, tmp_path, min_images=1)
