"""Ratings tables for collaborative filtering: (user, item, rating) rows, fastai's `collab`.

Inputs are ``{"user": (N,) int64, "item": (N,) int64}`` indices built from the training rows:
index 0 is a user (item) that never appears in train (cold start), 1.. the training ones, so
a cold-start rating gets the global mean plus the known side's bias. ``data.meta["ratings"]``
keeps the id of each index (and the item names when known, e.g. MovieLens titles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.split import Split
from nnrecipe.data.table import LINE_OFFSET, read_table
from nnrecipe.errors import DataError

SPLITS = ("random", "user", "time")
UNKNOWN = 0  # index of a user / item unseen in train


def _index(ids: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Indices 1.. for the ids seen in train (in order of first appearance), 0 for others."""
    known: dict[str, int] = {}
    for v in ids[train_rows]:
        known.setdefault(v, len(known) + 1)
    return np.array([known.get(v, UNKNOWN) for v in ids], dtype=np.int64), list(known)


def _split(
    df: Any, users: np.ndarray, how: str, time: str | None, **fractions: Any
) -> dict[str, torch.Tensor]:
    n = len(df)
    if how == "random":
        return split_indices(n, None, **fractions)
    if how == "user":  # every user's ratings spread over the splits (stratified by user)
        codes = np.unique(users, return_inverse=True)[1]
        return split_indices(n, codes, **fractions)
    if time is None or time not in df.columns:
        raise DataError("split='time' needs the ratings' time column: pass time=COLUMN.")
    order = np.argsort(df[time].to_numpy(), kind="stable")  # oldest first
    sizes = {k: round(fractions.get(k, 0.0) * n) for k in ("train_dev", "valid", "test")}
    parts: dict[str, np.ndarray] = {}
    end = n
    for k in ("test", "valid"):  # the latest ratings are held out
        if sizes[k]:
            parts[k], end = order[end - sizes[k] : end], end - sizes[k]
    rest = order[:end]
    if sizes["train_dev"]:
        rng = np.random.default_rng(fractions.get("seed", 0))
        pick = rng.choice(len(rest), sizes["train_dev"], replace=False)
        parts["train_dev"] = rest[pick]
        rest = np.delete(rest, pick)
    parts["train"] = rest
    order_keys = ("train", "valid", "test", "train_dev")
    return {k: torch.from_numpy(np.sort(parts[k])) for k in order_keys if k in parts}


def infer_y_range(y: np.ndarray) -> tuple[float, float]:
    """The sigmoid's range: the rating range widened by an eighth of it on each side, since a
    sigmoid never reaches its bounds (1..5 stars -> (0.5, 5.5); fastai uses (0, 5.5))."""
    lo, hi = float(np.min(y)), float(np.max(y))
    pad = (hi - lo) / 8 if hi > lo else 0.5
    return lo - pad, hi + pad


def from_ratings(
    df: Any,
    *,
    users: str,
    items: str,
    ratings: str,
    split: str = "random",
    time: str | None = None,
    y_range: tuple[float, float] | None = None,
    item_names: dict[str, str] | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    name: str = "ratings",
) -> Data:
    """Data for collaborative filtering from a DataFrame of (user, item, rating) rows.

    Args:
        users, items, ratings: the column names.
        split: ``"random"`` (default), ``"user"`` (each user's ratings spread over the splits)
            or ``"time"`` (the latest ratings held out; needs `time`).
        y_range: the model's output range (default: inferred, see `infer_y_range`).
        item_names: item id -> display name (for the report's embedding map).

    Example:
        >>> import pandas as pd, nnrecipe as nr
        >>> df = pd.DataFrame({"u": [1, 1, 2, 2, 3] * 4, "i": [1, 2, 1, 3, 2] * 4,
        ...                    "r": [5, 3, 4, 1, 2] * 4})
        >>> nr.Data.from_ratings(df, users="u", items="i", ratings="r").task.name
        'ratings'
    """
    import pandas as pd

    from nnrecipe.tasks.ratings import Ratings

    for role, col in (("users", users), ("items", items), ("ratings", ratings)):
        if col not in df.columns:
            cols = ", ".join(map(str, df.columns[:20]))
            raise DataError(
                f"The {role} column {col!r} is not in the table: its columns are {cols}."
            )
    if split not in SPLITS:
        raise DataError(f"Unknown ratings split {split!r}: use one of {', '.join(SPLITS)}.")
    df = df.reset_index(drop=True)
    for role, col in (("user", users), ("item", items)):
        lost = np.flatnonzero(df[col].isna().to_numpy())
        if len(lost):
            raise DataError(
                f"{len(lost)} rows have no {role} in column {col!r} (first at CSV line "
                f"{lost[0] + LINE_OFFSET}): drop or fill those rows."
            )
    r = pd.to_numeric(df[ratings], errors="coerce")
    bad = np.flatnonzero(r.isna().to_numpy())
    if len(bad):
        raise DataError(
            f"{len(bad)} ratings in column {ratings!r} are missing or not numbers (first "
            f"{df[ratings].iloc[bad[0]]!r} at CSV line {bad[0] + LINE_OFFSET}): ratings must "
            "be numbers."
        )
    y = r.to_numpy(dtype=np.float32)
    uid = df[users].astype(str).to_numpy()
    iid = df[items].astype(str).to_numpy()
    if len(set(uid)) < 2 or len(set(iid)) < 2:
        which = "user" if len(set(uid)) < 2 else "item"
        raise DataError(
            f"The ratings come from a single {which} ({(uid if which == 'user' else iid)[0]!r}): "
            "collaborative filtering needs several users and items."
        )
    if y_range is not None:
        lo, hi = map(float, y_range)
        out = np.flatnonzero((y < lo) | (y > hi))
        if not lo < hi or len(out):
            raise DataError(
                f"{len(out)} ratings lie outside the declared y_range ({lo:g}, {hi:g}) (e.g. "
                f"{y[out[0]] if len(out) else lo:g}): declare a range that holds every rating, or "
                "leave y_range unset to infer it."
            )
    fractions = {"valid": valid, "test": test, "train_dev": train_dev, "seed": seed}
    parts = _split(df, uid, split, time, **fractions)
    train_rows = parts["train"].numpy()
    u, user_ids = _index(uid, train_rows)
    i, item_ids = _index(iid, train_rows)
    yt = torch.from_numpy(y.copy())
    x = {"user": torch.from_numpy(u), "item": torch.from_numpy(i)}
    splits = {
        k: Split({n: t[rows] for n, t in x.items()}, yt[rows], index=rows)
        for k, rows in parts.items()
    }
    task = Ratings(y_range or infer_y_range(y[train_rows]), (float(y.min()), float(y.max())))
    meta = {
        "source": name,
        "seed": seed,
        "ratings": {
            "users": users,
            "items": items,
            "target": ratings,
            "split": split,
            "n_users": len(user_ids) + 1,
            "n_items": len(item_ids) + 1,
            "user_ids": user_ids,
            "item_ids": item_ids,
            "item_names": [item_names.get(v, v) for v in item_ids] if item_names else None,
            "duplicate_pairs": int(pd.DataFrame({"u": uid, "i": iid}).duplicated().sum()),
        },
        "default_model": "collab-blend",
    }
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality="tabular",
        classes=None,
        feature_names=["user", "item"],
        name=name,
        meta=meta,
    )


def movielens(**kw: Any) -> Data:
    """MovieLens 100k (GroupLens, Harper & Konstan 2015): 100,000 ratings 1-5 of 1,682 movies by
    943 users, from the files the ``recbole`` package ships (never downloaded); item names
    are the titles with their year."""
    from nnrecipe.data.table_builtin import packaged_file

    def read(ext: str) -> Any:
        import pandas as pd

        path = packaged_file(
            "recbole", "dataset_example", "ml-100k", f"ml-100k.{ext}",
            install="pip install --no-deps recbole",
        )  # fmt: skip
        frame = pd.read_csv(path, sep="\t")
        frame.columns = [c.split(":")[0] for c in frame.columns]  # "user_id:token" -> "user_id"
        return frame

    inter = read("inter")
    movies = read("item")
    titles = {
        str(row.item_id): f"{row.movie_title} ({row.release_year})"
        for row in movies.itertuples(index=False)
    }
    return from_ratings(
        inter, users="user_id", items="item_id", ratings="rating", time="timestamp",
        item_names=titles, name="movielens-100k", **kw,
    )  # fmt: skip


def from_ratings_csv(path: Any, *, users: str, items: str, ratings: str, **kw: Any) -> Data:
    """`from_ratings` on a CSV file."""
    return from_ratings(read_table(path), users=users, items=items, ratings=ratings, **kw)
