"""A table's label-noise suspects and worst rows are rows (CSV line, values, given vs
predicted), never tile galleries; cell values are escaped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nnrecipe as nr

EVIL_LEVEL = "<b>bold</b>"


def _noisy_csv(path: Path) -> Path:
    """300 rows, two informative numeric columns and a categorical one (one level is markup);
    30 labels flipped: suspects for the audit's label-noise."""
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", EVIL_LEVEL], n)
    label = np.where(a + b > 0, "yes", "no")
    flip = rng.choice(n, 30, replace=False)
    label[flip] = np.where(label[flip] == "yes", "no", "yes")
    pd.DataFrame({"a": a.round(3), "b": b.round(3), "colour": colour, "label": label}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rows")
    csv = _noisy_csv(root / "noisy.csv")
    return nr.run(
        str(csv), target="label", out=str(root / "run"), epochs=2, threads=1, force=True, quiet=True
    ).path


def test_suspects_are_rows_with_csv_lines(noisy_run: Path) -> None:
    import json

    audit = json.loads((noisy_run / "stages" / "audit.json").read_text())
    noise = next(f for f in audit["findings"] if f["code"] == "label-noise")
    ev = noise["evidence"]
    assert ev["columns"] == ["a", "b", "colour"]
    frame = pd.read_csv(noisy_run.parent / "noisy.csv")
    for s in ev["suspects"]:
        row = frame.iloc[s["line"] - 2]  # the header is line 1
        assert s["values"] == [row["a"], row["b"], row["colour"]]
        assert s["given"] == row["label"] and s["predicted"] != s["given"]
    assert "label_issues" not in audit["artifacts"]  # no tile gallery for a table


def test_report_shows_rows_not_tiles_and_escapes(noisy_run: Path) -> None:
    page = (noisy_run / "report.html").read_text()
    assert "Suspicious labels (audit): the rows" in page
    assert "Valid rows with the highest loss" in page
    assert "Top losses (valid)" not in page and "label_issues.png" not in page
    assert EVIL_LEVEL not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
