"""`target-leak`: a planted id column in target order is named; clean tables stay quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nnrecipe as nr
from nnrecipe.audit.context import AuditContext
from nnrecipe.audit.leak import target_leak


def _planted(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x[:, 0] + rng.normal(size=n) > 0).astype(int)
    # Patient ids handed out in label order (with a little shuffling within the classes).
    pid = np.argsort(np.argsort(y + rng.normal(0, 0.01, n))).astype("float32")
    return np.c_[x, pid], y


def test_planted_id_column_is_named():
    x, y = _planted()
    data = nr.Data.from_arrays(x, y, feature_names=["a", "b", "c", "d", "e", "patient_id"])
    found = target_leak(AuditContext.build(data))
    assert [f.evidence["column"] for f in found] == ["patient_id"]
    assert found[0].severity == "error"


def test_planted_id_left_out_of_a_csv_is_still_tested(tmp_path):
    x, y = _planted()
    df = pd.DataFrame(x[:, :5], columns=list("abcde"))
    df["patient_id"] = x[:, 5].astype(int)  # unique per row: left out as an id
    df["label"] = np.where(y == 1, "sick", "well")
    df.to_csv(tmp_path / "p.csv", index=False)
    data = nr.Data.from_csv(tmp_path / "p.csv", target="label")
    assert data.meta["table"]["ids"] == ["patient_id"]
    found = [f for f in nr.audit(data) if f.code == "target-leak"]
    assert [f.evidence["column"] for f in found] == ["patient_id"]
    assert found[0].severity == "warning"  # not fed to the model


def test_regression_leak():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = (x[:, 1] + rng.normal(size=300)).astype("float32")
    order = np.argsort(np.argsort(y)).astype("float32")
    data = nr.Data.from_arrays(np.c_[x, order], y, task="regression")
    found = target_leak(AuditContext.build(data))
    assert [f.evidence["column"] for f in found] == ["x4"]


@pytest.mark.parametrize("name", ["digits", "wine", "breast_cancer", "penguins", "iris"])
def test_quiet_on_clean_tables(name):
    assert target_leak(AuditContext.build(nr.datasets.load(name))) == []


def test_a_clean_threshold_on_a_measurement_is_only_info():
    rng = np.random.default_rng(2)
    y = np.arange(400) % 2
    x = rng.normal(size=(400, 3)).astype("float32")
    x[:, 0] += 6 * y  # one real-valued measurement separates the classes
    data = nr.Data.from_arrays(x, y)
    found = target_leak(AuditContext.build(data))
    assert [f.severity for f in found] == ["info"]
