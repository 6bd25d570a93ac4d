"""The issue's bad input for ratings and tables through `nnrecipe run`: one sentence on
stderr and exit code 2 before any folder is written, or a finding where training can go on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nnrecipe as nr
from faults.conftest import check_refused, cli


def _ratings(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "user": rng.integers(0, 30, n),
            "item": rng.integers(0, 20, n),
            "stars": rng.integers(1, 6, n).astype(float),
        }
    )


BAD_RATINGS = {
    "missing-user": (lambda d: d.assign(user=d["user"].astype(float).where(d.index != 4)), "user"),
    "missing-item": (lambda d: d.assign(item=d["item"].astype(float).where(d.index != 9)), "item"),
    "text-rating": (
        lambda d: d.assign(stars=d["stars"].astype(object).where(d.index != 2, "x")),
        "not numbers",
    ),
    "single-user": (lambda d: d.assign(user=7), "single user"),
    "outside-y-range": (lambda d: d.assign(stars=d["stars"] * 20), "y_range"),
}


@pytest.mark.parametrize("case", sorted(BAD_RATINGS))
def test_bad_ratings_are_one_sentence(tmp_path, case) -> None:
    change, words = BAD_RATINGS[case]
    path = tmp_path / "r.csv"
    change(_ratings()).to_csv(path, index=False)
    out = tmp_path / "run"
    result = cli(
        "run", path, "--users", "user", "--items", "item", "--target", "stars",
        "--y-range", "0,5.5", "--out", out, "--epochs", "1",
    )  # fmt: skip
    check_refused(result, words)
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_a_million_levels_is_one_sentence(tmp_path, monkeypatch) -> None:
    import nnrecipe.data.table as table

    monkeypatch.setattr(table, "MAX_LEVELS", 50)  # a million levels, scaled down
    path = tmp_path / "t.csv"
    pd.DataFrame({"zip": [f"z{i % 80}" for i in range(400)], "y": np.arange(400) % 2}).to_csv(
        path, index=False
    )
    out = tmp_path / "run"
    check_refused(cli("run", path, "--target", "y", "--out", out, "--epochs", "1"), "zip")
    assert not out.exists()


def test_one_level_and_empty_levels_are_findings(tmp_path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    pd.DataFrame(
        {
            "const": ["same"] * 200,  # one level only: constant-feature
            "color": rng.choice(["red", "", "blue"], 200),  # the empty string is missing
            "v": rng.normal(size=200),
            "y": rng.integers(0, 2, 200),
        }
    ).to_csv(path, index=False)
    result = cli("audit", path, "--target", "y", "--out", tmp_path / "a")
    assert result.exit_code in (0, 1) and "Traceback" not in result.output
    assert "constant-feature" in result.output
    data = nr.Data.from_csv(path, target="y")
    assert data.meta["table"]["categorical"]["color"] == ["blue", "red"]
