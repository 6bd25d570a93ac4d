"""The report in a real browser: headless Chromium (Debian's `chromium`) loads it from file://
with no console error and no request but the file itself; the verdict strip and every section
are there; markup in class and file names stays text. A full-page screenshot is kept in
``test-artifacts/``.

Skips when Chromium is missing, unless ``NNRECIPE_REQUIRE_CHROMIUM=1`` (set by ``.ci/run``), in
which case a missing browser is a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import nnrecipe as nr
from nnrecipe.report.build import SECTIONS
from nnrecipe.report.verdict import VERDICT_STAGES

sys.path.insert(0, str(Path(__file__).parent))
from cdp_client import Chromium, find_chromium  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BINARY = find_chromium()
if BINARY is None and os.environ.get("NNRECIPE_REQUIRE_CHROMIUM") == "1":
    raise RuntimeError(
        "NNRECIPE_REQUIRE_CHROMIUM=1 but chromium is not installed: run .ci/chromium.sh"
    )
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="chromium is not installed (.ci/chromium.sh)"
)


def _load(report: Path, shot: str) -> tuple[Chromium, dict]:
    """Open `report` in Chromium; returns what the page did and what its DOM holds."""
    browser = Chromium(BINARY)  # type: ignore[arg-type]
    try:
        url = report.resolve().as_uri()
        browser.open(url)
        dom = browser.evaluate("""(() => ({
            sections: [...document.querySelectorAll('main > section')].map(s => [s.id, s.offsetHeight]),
            stages: [...document.querySelectorAll('#verdict [data-stage]')].map(e => e.dataset.stage),
            images: document.images.length,
            broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length,
            handlers: document.querySelectorAll('[onerror],[onload],[onmouseover],script').length,
            text: document.body.innerText,
        }))()""")
        browser.screenshot(ARTIFACTS / shot)
        dom["url"] = url
        dom["requests"] = browser.requests()
        dom["problems"] = browser.problems()
    finally:
        browser.close()
    return browser, dom


def _check_page(dom: dict) -> None:
    assert dom["problems"] == []  # console errors, CSP violations, failed loads, exceptions
    others = [u for u in dom["requests"] if u != dom["url"] and not u.startswith("data:")]
    assert others == [] and dom["requests"][0] == dom["url"]  # data: URIs are the embedded images
    assert [s for s, _ in dom["sections"]] == ["summary", *(a for a, _ in SECTIONS)]
    assert all(height > 40 for _, height in dom["sections"])
    assert dom["stages"] == list(VERDICT_STAGES)
    assert dom["images"] > 10 and dom["broken"] == 0 and dom["handlers"] == 0


def test_digits_report_in_chromium(digits_run: Path) -> None:
    _, dom = _load(digits_run / "report.html", "report-digits.png")
    _check_page(dom)
    assert "Top losses" in dom["text"] and "Prediction dynamics" in dom["text"]
    assert (ARTIFACTS / "report-digits.png").stat().st_size > 100_000


def test_markup_in_names_is_text_in_chromium(evil_run: Path, evil_names: dict[str, str]) -> None:
    _, dom = _load(evil_run / "report.html", "report-escaping.png")
    _check_page(dom)  # an <img src=x> would have requested file:///.../x and failed
    assert evil_names["class"] in dom["text"]
    assert evil_names["file"] in dom["text"]


@pytest.mark.slow
def test_digits_demo_report_in_chromium(tmp_path: Path) -> None:
    """`make demo`'s run (default settings), as a user gets it."""
    run = nr.run(
        "digits",
        out=str(tmp_path / "demo"),
        quiet=True,
        command="nnrecipe run digits --out runs/demo",
    )
    report = run.path / "report.html"
    assert report.stat().st_size < 5_000_000
    _, dom = _load(report, "report-digits-demo.png")
    _check_page(dom)
