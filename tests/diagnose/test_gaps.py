"""Ng's table from given errors: gaps, noise thresholds, verdicts, next steps."""

from __future__ import annotations

import pytest

import nnrecipe as nr
from nnrecipe.diagnose.checks import MIN_GAP
from nnrecipe.diagnose.codes import NEXT_STEP


@pytest.mark.parametrize(
    "errors,verdict",
    [
        ({"human": 0.01, "train": 0.15, "train_dev": 0.16, "valid": 0.17}, "avoidable-bias"),
        ({"human": 0.01, "train": 0.02, "train_dev": 0.15, "valid": 0.16}, "variance"),
        ({"human": 0.01, "train": 0.02, "train_dev": 0.03, "valid": 0.20}, "data-mismatch"),
        (
            {"human": 0.01, "train": 0.02, "train_dev": 0.03, "valid": 0.04, "test": 0.15},
            "overfit-to-valid",
        ),
        ({"human": 0.01, "train": 0.012, "train_dev": 0.013, "valid": 0.015}, "at-human-level"),
    ],
)
def test_the_largest_significant_gap_is_the_verdict(errors, verdict) -> None:
    r = nr.diagnose(errors)
    assert r.stats["verdict"] == verdict
    assert r.stats["next_step"] == NEXT_STEP[verdict]
    assert verdict in r.codes


def test_without_train_dev_variance_is_valid_minus_train_and_mismatch_is_not_claimed() -> None:
    r = nr.diagnose({"train": 0.02, "valid": 0.2})
    rows = {row["code"]: row for row in r.stats["table"]}
    assert rows["variance"]["to"] == "valid" and "data-mismatch" not in rows
    assert r.stats["verdict"] == "variance" and not r.stats["human_known"]


def test_noise_threshold_grows_for_small_splits() -> None:
    errors = {"human": 0.045, "train": 0.05, "valid": 0.10}
    big = nr.diagnose(errors, sizes={"train": 100000, "valid": 100000})
    small = nr.diagnose(errors, sizes={"train": 50, "valid": 50})
    assert big.stats["verdict"] == "variance"  # 5 points on 100k samples is real
    assert "variance" not in small.codes  # on 50 samples it is noise (2 SE ~ 0.1)
    row = next(r for r in small.stats["table"] if r["code"] == "variance")
    assert row["threshold"] > 0.05 > MIN_GAP


def test_regression_uses_rmse_with_a_relative_threshold() -> None:
    r = nr.diagnose(
        {"train": {"rmse": 10.0, "loss": 100.0}, "valid": {"rmse": 20.0, "loss": 400.0}},
        human_error=0.0,
    )
    assert r.stats["errors"]["valid"] == 20.0
    assert (
        r.stats["verdict"] == "avoidable-bias"
    )  # 10 from 0 vs 10 between train and valid: tie -> first


def test_missing_errors_raise_a_config_error() -> None:
    with pytest.raises(nr.ConfigError, match="train and valid"):
        nr.diagnose({"valid": 0.1})
    with pytest.raises(nr.ConfigError, match="run folder"):
        nr.diagnose(42)
