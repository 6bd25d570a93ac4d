"""Bad tables through the CLI: one sentence on stderr and exit code 2, nothing half-written;
tables training can go on with get a finding instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app

runner = CliRunner()


def _ratings(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": rng.integers(0, 30, n),
            "item": rng.integers(0, 20, n),
            "stars": rng.integers(1, 6, n).astype(float),
        }
    )


def _audit(tmp_path, df: pd.DataFrame, *extra: str):
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    return runner.invoke(app, ["audit", str(path), *extra])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.assign(user=d["user"].astype(float).where(d.index != 4)), "have no user"),
        (lambda d: d.assign(item=d["item"].astype(float).where(d.index != 9)), "have no item"),
        (
            lambda d: d.assign(stars=d["stars"].astype(object).where(d.index != 2, "x")),
            "not numbers",
        ),
        (lambda d: d.assign(user=7), "single user"),
        (lambda d: d.assign(stars=d["stars"] * 20), "outside the declared y_range"),
    ],
)
def test_bad_ratings_csv(tmp_path, change, words):
    path = tmp_path / "r.csv"
    change(_ratings()).to_csv(path, index=False)
    out = tmp_path / "run"
    args = ["run", str(path), "--users", "user", "--items", "item", "--target", "stars"]
    result = runner.invoke(app, [*args, "--y-range", "0,5.5", "--out", str(out), "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_too_many_levels(tmp_path, monkeypatch):
    import nnrecipe.data.table as table

    monkeypatch.setattr(table, "MAX_LEVELS", 50)  # a million levels, scaled down
    df = pd.DataFrame({"zip": [f"z{i % 80}" for i in range(400)], "y": np.arange(400) % 2})
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    with pytest.raises(nr.DataError, match=r"levels in train \(more than 50\)"):
        nr.Data.from_csv(path, target="y", test=0.0)


def test_one_level_and_empty_levels_are_findings_not_crashes(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "const": ["same"] * 200,  # one level only
            "color": rng.choice(["red", "", " ", "blue"], 200),  # empty text is missing
            "v": rng.normal(size=200),
            "y": rng.integers(0, 2, 200),
        }
    )
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    data = nr.Data.from_csv(path, target="y")
    assert data.meta["table"]["categorical"]["color"] == ["blue", "red"]
    assert "constant-feature" in {f.code for f in nr.audit(data)}


@pytest.mark.slow
def test_ratings_csv_runs_through_the_cli(tmp_path):
    path = tmp_path / "r.csv"
    _ratings(600).to_csv(path, index=False)
    out = tmp_path / "run"
    args = ["run", str(path), "--users", "user", "--items", "item", "--target", "stars"]
    result = runner.invoke(app, [*args, "--out", str(out), "--epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "RMSE by user activity" in html
