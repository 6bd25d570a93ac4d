"""CSV tables: a target column, categorical and continuous features encoded with train statistics.

Column types are inferred (text, booleans and integers with at most `MAX_INT_CATEGORICAL`
distinct values are categorical, other numbers continuous) and overridable with `categorical=`
and `continuous=`. A column unique per row (an id) is left out and reported. Categorical
columns become integer codes for the entity-embedding model (`models/tabular.py`): code 0 is a
level unseen in train, code 1 a missing value, 2.. the training levels. Continuous columns are
standardised with training statistics, missing values filled with the training median plus a
missing indicator, only for the columns that have missing values.

Inputs are ``{"cat": (N, n_cat) int64, "cont": (N, n_cont) float32}`` when the table has
categorical columns, else one (N, n_cont) float tensor. The fitted `TableEncoder` is stored in
``data.meta["table"]`` (JSON) so that new rows can be encoded the same way later
(``TableEncoder.from_dict(meta).transform(df)``). Split positions (`Split.index`) are row
positions in the CSV file: the CSV line of a sample is ``index + 2`` (the header is line 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError

# Integer target columns with at most this many distinct values are classification targets.
MAX_INT_CLASSES = 20
# Integer feature columns with at most this many distinct values are categorical (fastai's
# `cont_cat_split` uses the same max_card=20).
MAX_INT_CATEGORICAL = 20
# A categorical column with more training levels than this cannot be embedded usefully (and
# the embedding table would dominate memory): the user is asked to drop or declare it.
MAX_LEVELS = 100_000
# Columns unique per row are ids only from this many rows on (a 5-row table proves nothing).
MIN_ROWS_FOR_ID = 20
# Group-aware splits need at least this many groups (distinct rows); fewer: rows are split.
MIN_GROUPS = 20
# The CSV line of a data row at position p (0-based) is p + LINE_OFFSET: header is line 1.
LINE_OFFSET = 2
UNSEEN, MISSING = 0, 1  # reserved categorical codes; training levels start at 2


def read_table(path: str | Path) -> Any:
    """A CSV file as a pandas DataFrame, with a one-sentence `DataError` when it cannot be read."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"CSV file {str(p)!r} does not exist: check the path.")
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(p, sep=sep)
    except Exception as e:
        raise DataError(f"Cannot read {str(p)!r} as CSV ({type(e).__name__}: {e}).") from e
    if df.empty:
        raise DataError(f"{str(p)!r} has no rows: the table needs at least one sample per split.")
    return df


def level_of(value: Any) -> str | None:
    """The category name of one cell (None when missing or blank): 2007 and 2007.0 are the
    same level, so a column that gained a NaN (and became float) keeps its levels."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None  # an empty (or blank) text cell is a missing value, not a level
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def column_types(
    df: Any,
    *,
    categorical: list[str] | None = None,
    continuous: list[str] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """(categorical, continuous, id columns) of the feature frame `df`: inferred, with the
    user's `categorical` / `continuous` lists taking precedence. Ids are unique per row."""
    import pandas as pd

    cat_given, cont_given = list(categorical or []), list(continuous or [])
    for name in cat_given + cont_given:
        if name not in df.columns:
            cols = ", ".join(map(str, df.columns[:20]))
            raise DataError(
                f"Column {name!r} given as categorical/continuous is not a feature of the "
                f"table: its feature columns are {cols}."
            )
    both = sorted(set(cat_given) & set(cont_given))
    if both:
        raise DataError(f"Columns {both} are given as both categorical and continuous: pick one.")
    cats, conts, ids = [], [], []
    for c in df.columns:
        col, name = df[c], str(c)
        if name in cat_given:
            cats.append(name)
            continue
        if name in cont_given:
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                parsed = pd.to_numeric(col, errors="coerce")
                if parsed.isna().sum() > col.isna().sum():
                    raise DataError(
                        f"Column {name!r} is given as continuous but holds text such as "
                        f"{col[parsed.isna() & col.notna()].iloc[0]!r}: declare it categorical."
                    )
            conts.append(name)
            continue
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        integer = pd.api.types.is_integer_dtype(col)
        unique = int(col.nunique(dropna=True))
        if (not numeric or integer) and len(col) >= MIN_ROWS_FOR_ID and unique == len(col):
            ids.append(name)  # unique per row: an identifier, not a feature
        elif not numeric or (integer and unique <= MAX_INT_CATEGORICAL):
            cats.append(name)
        else:
            conts.append(name)
    return cats, conts, ids


class TableEncoder:
    """Column-wise encoding fitted on training rows only (no valid/test statistics leak in).

    ``transform(df)`` turns a DataFrame with the same feature columns (any rows, e.g. new ones
    at prediction time) into the model's inputs. ``to_dict()`` / ``from_dict()`` store it as
    JSON in ``data.meta["table"]``.
    """

    def __init__(
        self,
        *,
        categorical: dict[str, list[str]],
        continuous: dict[str, dict[str, float]],
        indicators: list[str],
    ) -> None:
        self.categorical = categorical  # column -> training levels (code = 2 + position)
        self.continuous = continuous  # column -> {"median", "mean", "std"} on train
        self.indicators = indicators  # continuous columns that get a missing indicator

    @classmethod
    def fit(
        cls, df: Any, *, categorical: list[str], continuous: list[str], indicators: list[str]
    ) -> TableEncoder:
        import pandas as pd

        cats: dict[str, list[str]] = {}
        for c in categorical:
            levels = sorted({lv for v in df[c].tolist() if (lv := level_of(v)) is not None})
            if len(levels) > MAX_LEVELS:
                raise DataError(
                    f"Categorical column {c!r} has {len(levels)} levels in train (more than "
                    f"{MAX_LEVELS}): drop it, or pass it as continuous if it is a number."
                )
            cats[c] = levels
        conts = {}
        for c in continuous:
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            med, mean, std = _column_stats(v)
            conts[c] = {"median": med, "mean": mean, "std": std}
        return cls(categorical=cats, continuous=conts, indicators=list(indicators))

    # -- what it produces ------------------------------------------------------------------
    @property
    def cardinalities(self) -> dict[str, int]:
        """Embedding rows per categorical column: the levels plus unseen and missing."""
        return {c: len(levels) + 2 for c, levels in self.categorical.items()}

    @property
    def output_names(self) -> list[str]:
        """Input column names in the order of the flattened inputs (cat, then cont)."""
        return [*self.categorical, *self.continuous, *(f"{c}__missing" for c in self.indicators)]

    @property
    def columns(self) -> list[str]:
        return [*self.categorical, *self.continuous]

    def transform(self, df: Any) -> dict[str, np.ndarray] | np.ndarray:
        """Inputs for the rows of `df`: ``{"cat": (N, n_cat) int64, "cont": (N, n_cont)
        float32}`` with categorical columns, else the (N, n_cont) float32 array."""
        import pandas as pd

        missing_cols = [c for c in self.columns if c not in df.columns]
        if missing_cols:
            raise DataError(
                f"The rows lack the column(s) {missing_cols} the model was trained on: give "
                "every feature column of the training table."
            )
        n = len(df)
        cont = []
        for c, st in self.continuous.items():
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            filled = np.where(np.isnan(v), st["median"], v)  # ±inf stays: the audit's non-finite
            cont.append(_standardise(c, filled, st["mean"], st["std"]))
        for c in self.indicators:
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            cont.append(np.isnan(v).astype(float))
        cont_arr = np.stack(cont, axis=1).astype(np.float32) if cont else np.zeros((n, 0), "f4")
        if not self.categorical:
            return cont_arr
        cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, (c, levels) in enumerate(self.categorical.items()):
            lookup = {lv: i + 2 for i, lv in enumerate(levels)}
            cat[:, j] = [
                MISSING if (lv := level_of(v)) is None else lookup.get(lv, UNSEEN)
                for v in df[c].tolist()
            ]
        return {"cat": cat, "cont": cont_arr}

    def decode(self, column: str, code: int) -> str:
        """The level name of a categorical code ("<unseen>", "<missing>", or the level)."""
        if code == UNSEEN:
            return "<unseen>"
        if code == MISSING:
            return "<missing>"
        return self.categorical[column][code - 2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "categorical": self.categorical,
            "continuous": self.continuous,
            "indicators": self.indicators,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableEncoder:
        return cls(
            categorical={k: list(v) for k, v in d["categorical"].items()},
            continuous={k: dict(v) for k, v in d["continuous"].items()},
            indicators=list(d.get("indicators") or []),
        )


def row_groups(features: Any, group: str | None) -> np.ndarray:
    """(N,) group id per row: the user's `group` column, else rows with identical feature
    values share a group (so a split never puts a row in train and its copy in valid)."""
    import pandas as pd

    if group is not None:
        codes, _ = pd.factorize(features[group].astype("string").fillna("<missing>"))
        return np.asarray(codes)
    hashed = pd.util.hash_pandas_object(features, index=False).to_numpy()
    return np.asarray(pd.factorize(hashed)[0])


def split_groups(
    groups: np.ndarray,
    labels: np.ndarray | None,
    *,
    valid: float,
    test: float,
    train_dev: float = 0.0,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """`split_indices` over groups: every row of a group lands in the same split (fractions
    are of groups; stratified on each group's first label). Without repeated groups it is
    exactly `split_indices` over rows."""
    n = len(groups)
    uniq, first = np.unique(groups, return_index=True)
    if len(uniq) == n or len(uniq) < MIN_GROUPS:
        # Too few distinct rows to split by group (a table of copies): split the rows, and
        # the audit reports the copies across splits.
        return split_indices(n, labels, valid=valid, test=test, train_dev=train_dev, seed=seed)
    glabels = labels[first] if labels is not None else None
    parts = split_indices(
        len(uniq), glabels, valid=valid, test=test, train_dev=train_dev, seed=seed
    )
    pos = np.searchsorted(uniq, groups)  # group number of each row
    return {k: torch.from_numpy(np.flatnonzero(np.isin(pos, g.numpy()))) for k, g in parts.items()}


def _target(ycol: Any, target: str, task: str | None) -> tuple[str, torch.Tensor, list | None]:
    import pandas as pd

    if task is None:
        numeric = pd.api.types.is_numeric_dtype(ycol) and not pd.api.types.is_bool_dtype(ycol)
        is_int = numeric and np.all(np.mod(ycol.to_numpy(dtype=float), 1) == 0)
        task = (
            "classification"
            if not numeric or (is_int and ycol.nunique() <= MAX_INT_CLASSES)
            else "regression"
        )
    if task == "classification":
        codes, uniques = pd.factorize(ycol, sort=True)
        return task, torch.tensor(codes, dtype=torch.long), [str(u) for u in uniques]
    if not pd.api.types.is_numeric_dtype(ycol) or pd.api.types.is_bool_dtype(ycol):
        raise DataError(
            f"Target {target!r} is not numeric (e.g. {ycol.iloc[0]!r}): {task} needs numbers; "
            "pass task='classification' for labels."
        )
    return task, torch.tensor(ycol.to_numpy(dtype=np.float32)), None


def from_csv(
    path: str | Path,
    *,
    target: str,
    task: str | None = None,
    categorical: list[str] | None = None,
    continuous: list[str] | None = None,
    group: str | None = None,
    users: str | None = None,
    items: str | None = None,
    split: str = "random",
    y_range: tuple[float, float] | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    name: str | None = None,
) -> Data:
    """A CSV table with a `target` column (or a ratings table with `users` and `items`).

    Args:
        target: the column to predict.
        task: default inferred (text or small-integer target: classification; else regression).
        categorical, continuous: columns whose inferred type to override.
        group: a column whose rows must stay in one split (a patient id); by default rows
            with identical features stay together.
        users, items: the user and item columns of a ratings table (collaborative filtering,
            see `nnrecipe.data.ratings`); `target` is then the rating, `split` and `y_range`
            that of `from_ratings`.
    """
    p = Path(path)
    df = read_table(p)
    if users is not None or items is not None:
        from nnrecipe.data.ratings import from_ratings

        if users is None or items is None:
            raise DataError("A ratings table needs both --users COLUMN and --items COLUMN.")
        return from_ratings(
            df, users=users, items=items, ratings=target, split=split, y_range=y_range,
            valid=valid, test=test, train_dev=train_dev, seed=seed, name=name or p.stem,
        )  # fmt: skip
    return from_frame(
        df,
        target=target,
        task=task,
        categorical=categorical,
        continuous=continuous,
        group=group,
        valid=valid,
        test=test,
        train_dev=train_dev,
        seed=seed,
        name=name or p.stem,
        source=str(p),
    )


def from_frame(
    df: Any,
    *,
    target: str,
    task: str | None = None,
    categorical: list[str] | None = None,
    continuous: list[str] | None = None,
    group: str | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    name: str = "table",
    source: str = "DataFrame",
) -> Data:
    """`from_csv` on a pandas DataFrame (row positions play the part of CSV lines)."""
    df = df.reset_index(drop=True)
    if target not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise DataError(f"{source!r} has no column {target!r}: its columns are {cols}.")
    if group is not None and group not in df.columns:
        raise DataError(f"The group column {group!r} is not in {source!r}: check the name.")
    lost = np.flatnonzero(df[target].isna().to_numpy())
    kept = df.drop(index=lost) if len(lost) else df
    if kept.empty:
        raise DataError(f"Every row of {source!r} has a missing target {target!r}.")
    features = kept.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{source!r} has only the target column: there are no input features.")
    task, y, classes = _target(kept[target], target, task)
    if classes is not None and len(classes) < 2:
        raise DataError(
            f"The target column {target!r} holds a single class ({classes[0]!r}): "
            "classification needs at least two classes; check the labels."
        )
    grouping = features.drop(columns=[group]) if group is not None else features
    cats, conts, ids = column_types(grouping, categorical=categorical, continuous=continuous)
    if not cats and not conts:
        raise DataError(
            f"Every feature column of {source!r} is unique per row (ids: {ids}): there is "
            "nothing to learn from; pass categorical=[...] to use one anyway."
        )
    labels = y.numpy() if classes is not None else None
    groups = row_groups(features, group)
    parts = split_groups(groups, labels, valid=valid, test=test, train_dev=train_dev, seed=seed)
    train_rows = features.iloc[parts["train"].numpy()]
    indicators = [c for c in conts if features[c].isna().any()]
    encoder = TableEncoder.fit(
        train_rows, categorical=cats, continuous=conts, indicators=indicators
    )
    encoded = encoder.transform(features)
    x: Any = (
        {k: torch.from_numpy(v) for k, v in encoded.items()}
        if isinstance(encoded, dict)
        else torch.from_numpy(encoded)
    )
    source_pos = torch.tensor(kept.index.to_numpy(dtype=np.int64))  # row positions in the file
    splits = {}
    for k, i in parts.items():
        xi = {n: t[i] for n, t in x.items()} if isinstance(x, dict) else x[i]
        splits[k] = Split(xi, y[i], index=source_pos[i])
    table = {
        **encoder.to_dict(),
        "target": target,
        "ids": ids,
        "group": group,
        "line_offset": LINE_OFFSET,
        "missing_target_rows": (lost + LINE_OFFSET).tolist(),
        "repeated_rows": int(len(groups) - len(np.unique(groups))) if group is None else 0,
    }
    data = _assemble(
        splits,
        task=task,
        loss=None,
        modality="tabular",
        classes=classes,
        feature_names=encoder.output_names,
        name=name,
        meta={"source": source, "target": target, "table": table, "seed": seed},
    )
    if cats:
        data.meta["default_model"] = "tabular"  # entity embeddings for the categorical columns
    data.frame = df  # type: ignore[attr-defined]  # raw rows (not JSON): report and leak audit
    return data


def _column_stats(v: np.ndarray) -> tuple[float, float, float]:
    """(median, mean, std) of a column's finite values, computed on a rescaled copy so that
    values near the float64 limit (1e308) cannot overflow."""
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return 0.0, 0.0, 1.0
    scale = float(np.max(np.abs(finite))) or 1.0
    scaled = finite / scale
    mean, std = float(scaled.mean()) * scale, float(scaled.std()) * scale
    return float(np.median(finite)), mean, std if std > 0 and np.isfinite(std) else 1.0


def _standardise(name: str, v: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(v - mean) / std without overflow; finite values that still do not fit float32 after
    standardising are refused with their column's name."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = v / std - mean / std
    bad = np.isfinite(v) & ~(np.abs(z) < np.finfo(np.float32).max)
    if bad.any():
        raise DataError(
            f"Column {name!r} has values out of range ({float(v[bad][0]):.3g} is "
            f"{float(z[bad][0]):.3g} standard deviations from the mean): rescale or clip it."
        )
    return z
