"""Healthy data must produce nothing at warning or worse."""

from __future__ import annotations

import pytest

import nnrecipe as nr
from audit.audit_synth import make_data


def _loud(result: nr.Result) -> list[str]:
    return [f"{f.code}: {f.message}" for f in result.at_least("warning")]


def test_digits_is_quiet_and_fast_enough_to_run_first():
    result = nr.audit(nr.datasets.load("digits"))
    assert _loud(result) == []
    assert result.stage == "audit" and result.ok
    # every check ran and measured something the person can read
    assert result.stats["label_noise_estimate"] < 0.05
    assert set(result.stats["shift_auc"]) == {"valid", "test"}


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "iris", "diabetes"])
def test_builtin_tables_are_quiet(name):
    assert _loud(nr.audit(nr.datasets.load(name))) == []


def test_clean_synthetic_sets_are_quiet(modality):
    result = nr.audit(make_data(modality))
    assert _loud(result) == []


def test_mildly_imbalanced_65_35_is_not_a_problem():
    data = make_data("tabular", 800, classes=2, weights=[0.65, 0.35])
    result = nr.audit(data)
    assert _loud(result) == []
    assert "class-imbalance" not in result.codes


def test_a_few_ambiguous_boundary_samples_are_info_only():
    # two overlapping classes: a handful of samples sit on the wrong side of the boundary
    data = make_data("tabular", 800, classes=2)
    for s in data.splits.values():
        s.x[:, :2] *= 0.35  # squeeze the class centres together
    result = nr.audit(data)
    assert _loud(result) == []


@pytest.mark.slow
def test_mnist1d_is_quiet():
    result = nr.audit(nr.datasets.load("mnist1d"))
    assert _loud(result) == []


def test_rows_of_a_low_dimensional_table_are_not_called_copies(tmp_path):
    # two continuous columns and a category: neighbouring rows are naturally close
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["city"] = rng.choice(["x", "y", "z"], n)
    df["label"] = np.where(df.a + df.b > 0, "yes", "no")
    df.to_csv(tmp_path / "t.csv", index=False)
    result = nr.audit(nr.Data.from_csv(tmp_path / "t.csv", target="label"))
    assert _loud(result) == []
    # the copy radius adapts to the table (5% of the median neighbour distance), so at most a
    # chance pair or two remains, as info (in 2 dimensions ~0.2% of rows by chance)
    copies = [f for f in result.findings if f.code in ("duplicates", "split-leakage")]
    assert sum(sum(f.evidence["samples"]["count"].values()) for f in copies) <= 4
    assert result.stats["copy_radius"] < 0.03


@pytest.mark.parametrize("features", [1, 2])
def test_gaussian_tails_of_a_low_dimensional_table_are_not_outliers(features):
    import numpy as np

    x = np.random.default_rng(0).normal(size=(600, features)).astype(np.float32)
    x[:, 0] += 3 * (np.arange(600) % 2)  # a learnable signal
    result = nr.audit(nr.Data.from_arrays(x, np.arange(600) % 2, seed=0))
    assert _loud(result) == []
    assert "outliers" not in result.codes
