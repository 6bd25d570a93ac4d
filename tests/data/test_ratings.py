"""Ratings tables: indices, y_range inference, splits, cold-start counts, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nnrecipe as nr
from nnrecipe.audit.context import AuditContext
from nnrecipe.audit.ratings import cold_start, duplicate_pair
from nnrecipe.data.ratings import infer_y_range


def _ratings(n_users: int = 40, n_items: int = 30, n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n, replace=False)  # each pair rated once
    u, i = pairs // n_items, pairs % n_items
    taste = rng.normal(size=(n_users, 2)) @ rng.normal(size=(2, n_items))
    r = np.clip(np.round(3 + taste[u, i]), 1, 5)
    return pd.DataFrame(
        {"user": [f"u{k}" for k in u], "item": i, "rating": r, "ts": rng.permutation(n)}
    )


def test_from_ratings_inputs_and_task():
    data = nr.Data.from_ratings(_ratings(), users="user", items="item", ratings="rating")
    assert data.task.name == "ratings"
    assert set(data.train.x) == {"user", "item"}
    assert int(data.train.x["user"].min()) >= 1  # 0 is kept for users unseen in train
    assert data.meta["ratings"]["n_users"] == len(data.meta["ratings"]["user_ids"]) + 1
    assert data.task.y_range == (0.5, 5.5)


def test_y_range_inference_and_override():
    assert infer_y_range(np.array([1.0, 5.0])) == (0.5, 5.5)
    assert infer_y_range(np.array([0.0, 100.0])) == (-12.5, 112.5)
    data = nr.Data.from_ratings(
        _ratings(), users="user", items="item", ratings="rating", y_range=(0, 5.5)
    )
    assert data.task.y_range == (0.0, 5.5)


def test_cold_start_counts():
    df = _ratings()
    # 30 users and 30 items with a single rating each: some land in valid only (cold start).
    extra = pd.DataFrame(
        {
            "user": [f"new{k}" for k in range(30)] + ["u1"] * 30,
            "item": list(range(30)) + list(range(100, 130)),
        }
        | {"rating": 3.0, "ts": 0}
    )
    df = pd.concat([df, extra], ignore_index=True)
    data = nr.Data.from_ratings(df, users="user", items="item", ratings="rating", seed=1)
    train_users = set(df["user"].iloc[data.train.index.numpy()])
    train_items = set(df["item"].iloc[data.train.index.numpy()])
    valid = df.iloc[data.valid.index.numpy()]
    cold = (~valid["user"].isin(train_users)) | (~valid["item"].isin(train_items))
    found = [f for f in cold_start(AuditContext.build(data)) if f.evidence["split"] == "valid"]
    assert int(cold.sum()) > 0 and found[0].evidence["ratings"] == int(cold.sum())
    assert int((data.valid.x["user"] == 0).sum()) == int((~valid["user"].isin(train_users)).sum())


def test_splits_by_user_and_time():
    df = _ratings()
    by_user = nr.Data.from_ratings(df, users="user", items="item", ratings="rating", split="user")
    assert int((by_user.valid.x["user"] == 0).sum()) == 0  # every user has training ratings
    by_time = nr.Data.from_ratings(
        df, users="user", items="item", ratings="rating", split="time", time="ts"
    )
    last_train = df["ts"].iloc[by_time.train.index.numpy()].max()
    assert df["ts"].iloc[by_time.valid.index.numpy()].min() > last_train


def test_duplicate_pairs_found():
    df = _ratings()
    df = pd.concat([df, df.iloc[:20]], ignore_index=True)
    data = nr.Data.from_ratings(df, users="user", items="item", ratings="rating")
    found = duplicate_pair(AuditContext.build(data))
    assert found and found[0].evidence["repeated"] == 20


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.assign(user=d["user"].where(d.index != 5)), "have no user"),
        (lambda d: d.assign(item=d["item"].astype(float).where(d.index != 7)), "have no item"),
        (
            lambda d: d.assign(rating=d["rating"].astype(object).where(d.index != 3, "five")),
            "not numbers",
        ),
        (lambda d: d.assign(user="u0"), "single user"),
    ],
)
def test_bad_ratings_tables(change, match):
    with pytest.raises(nr.DataError, match=match):
        nr.Data.from_ratings(change(_ratings()), users="user", items="item", ratings="rating")


def test_ratings_outside_declared_range():
    df = _ratings()
    df.loc[0, "rating"] = 7
    with pytest.raises(nr.DataError, match="outside the declared y_range"):
        nr.Data.from_ratings(df, users="user", items="item", ratings="rating", y_range=(0, 5.5))


def test_movielens_builtin():
    data = nr.datasets.load("movielens-100k")
    assert sum(len(s) for s in data.splits.values()) == 100_000
    names = data.meta["ratings"]["item_names"]
    assert "Toy Story (1995)" in names


def test_movielens_trains_on_80_percent_unless_told_otherwise() -> None:
    # The reference figures (fastai's book, Surprise, bench/collab.py) hold 20% out of 100k.
    from nnrecipe.config import make_config

    own = make_config({"data": "movielens-100k"})
    assert (own.valid, own.test) == (0.1, 0.1)
    given = make_config({"data": "movielens-100k", "valid": 0.3})
    assert (given.valid, given.test) == (0.3, 0.1)
    other = make_config({"data": "digits"})
    assert (other.valid, other.test) == (0.2, 0.1)
