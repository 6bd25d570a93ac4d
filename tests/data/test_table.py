"""CSV tables: missing categories, unseen levels, indicators, column types, ids, missing
targets, group-aware splits; string labels in from_arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import nnrecipe as nr
from nnrecipe.data.table import MISSING, UNSEEN, TableEncoder


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[::9] = np.nan  # missing categories are the normal case
    size = rng.normal(10, 2, n)
    weight = rng.normal(50, 5, n)
    weight[::7] = np.nan
    count = rng.integers(0, 4, n)  # low-cardinality integers: categorical
    label = np.where((size > 10) ^ (color == "red"), "yes", "no")
    return pd.DataFrame(
        {"color": color, "size": size, "weight": weight, "count": count, "label": label}
    )


def _csv(tmp_path, df: pd.DataFrame, name: str = "t.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_missing_categories_are_their_own_level(tmp_path):
    data = nr.Data.from_csv(_csv(tmp_path, _table()), target="label")
    table = data.meta["table"]
    assert set(table["categorical"]) == {"color", "count"}
    assert isinstance(data.train.x, dict) and data.train.x["cat"].dtype == torch.long
    codes = torch.cat([s.x["cat"][:, 0] for s in data.splits.values()])
    assert int((codes == MISSING).sum()) == 14  # rows 0, 9, ..., 117: ceil(120 / 9)


def test_missing_indicator_only_where_values_are_missing(tmp_path):
    data = nr.Data.from_csv(_csv(tmp_path, _table()), target="label")
    assert data.meta["table"]["indicators"] == ["weight"]
    assert "size__missing" not in data.feature_names
    assert data.train.x["cont"].shape[1] == 3  # size, weight, weight__missing


def test_unseen_levels_map_to_their_own_code(tmp_path):
    data = nr.Data.from_csv(_csv(tmp_path, _table()), target="label")
    enc = TableEncoder.from_dict(data.meta["table"])
    new = pd.DataFrame(
        {"color": ["purple", None, "red"], "size": [1.0, 2.0, None], "weight": [1, 2, 3]}
        | {"count": [9, 1, 2]}
    )
    x = enc.transform(new)
    assert x["cat"][:, 0].tolist()[:2] == [UNSEEN, MISSING]
    assert x["cat"][0, 1] == UNSEEN  # count 9 never seen in train
    assert np.isfinite(x["cont"]).all()  # missing size filled with the training median


def test_integer_level_survives_a_float_column(tmp_path):
    # A column with a NaN becomes float: 2007.0 must still be the level "2007".
    enc = TableEncoder.fit(
        pd.DataFrame({"year": [2007, 2008, 2009]}),
        categorical=["year"],
        continuous=[],
        indicators=[],
    )
    x = enc.transform(pd.DataFrame({"year": [2008.0, np.nan]}))
    assert x["cat"][:, 0].tolist() == [3, MISSING]


def test_type_overrides(tmp_path):
    path = _csv(tmp_path, _table())
    data = nr.Data.from_csv(path, target="label", categorical=["size"], continuous=["count"])
    assert set(data.meta["table"]["categorical"]) == {"color", "size"}
    assert set(data.meta["table"]["continuous"]) == {"weight", "count"}
    with pytest.raises(nr.DataError, match="continuous but holds text"):
        nr.Data.from_csv(path, target="label", continuous=["color"])
    with pytest.raises(nr.DataError, match="not a feature"):
        nr.Data.from_csv(path, target="label", categorical=["nope"])


def test_id_column_left_out_and_reported(tmp_path):
    df = _table()
    df.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(df))])
    data = nr.Data.from_csv(_csv(tmp_path, df), target="label")
    assert data.meta["table"]["ids"] == ["patient_id"]
    assert "patient_id" not in data.feature_names
    codes = {f.code for f in nr.audit(data)}
    assert "id-column" in codes


def test_missing_targets_are_left_out_with_their_lines(tmp_path):
    df = _table()
    df.loc[[3, 50], "label"] = np.nan
    data = nr.Data.from_csv(_csv(tmp_path, df), target="label")
    assert sum(len(s) for s in data.splits.values()) == 118
    assert data.meta["table"]["missing_target_rows"] == [5, 52]  # CSV lines (header is 1)
    found = [f for f in nr.audit(data) if f.code == "missing-target"]
    assert found and found[0].evidence["lines"] == [5, 52]


def test_identical_rows_stay_in_one_split(tmp_path):
    df = _table(100)
    df = pd.concat([df, df.iloc[:30]], ignore_index=True)  # 30 rows listed twice
    data = nr.Data.from_csv(_csv(tmp_path, df), target="label")
    where = {}
    for name, s in data.splits.items():
        for i in s.index.tolist():
            where[i] = name
    assert all(where[i] == where[i + 100] for i in range(30))
    assert "split-leakage" not in {f.code for f in nr.audit(data)}


def test_group_column_keeps_groups_together(tmp_path):
    df = _table(120)
    df["patient"] = np.arange(120) // 4
    data = nr.Data.from_csv(_csv(tmp_path, df), target="label", group="patient")
    assert "patient" not in data.feature_names
    seen: dict[int, str] = {}
    for name, s in data.splits.items():
        for i in s.index.tolist():
            assert seen.setdefault(i // 4, name) == name


def test_string_labels_from_arrays():
    x = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    y = np.array(["cat", "dog", "emu"] * 20)
    data = nr.Data.from_arrays(x, y)
    assert data.classes == ["cat", "dog", "emu"]
    assert data.train.y.dtype == torch.long


def test_integer_values_hint_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(442, 3)).astype("float32")
    y = rng.integers(25, 346, 442)  # like diabetes as int64
    with pytest.raises(nr.DataError, match="task='regression'"):
        nr.Data.from_arrays(x, y)
    assert nr.Data.from_arrays(x, y, task="regression").task.name == "regression"


def test_penguins_builtin():
    data = nr.datasets.load("penguins")
    assert data.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert set(data.meta["table"]["categorical"]) == {"island", "sex", "year"}
    assert data.meta["default_model"] == "tabular"
    assert sum(len(s) for s in data.splits.values()) == 344
