"""The report page of a finished run, for Jupyter."""

from __future__ import annotations

from pathlib import Path

from nnrecipe.html import iframe
from nnrecipe.report.build import build_html


def run_html(path: str | Path) -> str:
    """A finished run: its report page, rebuilt from the folder, in an isolated iframe."""

    report = Path(path) / "report.html"
    return iframe(report.read_text() if report.is_file() else build_html(path))
