"""CSV tables: a target column, categorical and numeric features encoded with train statistics."""

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
# Categorical columns with at most this many levels are one-hot encoded; more get integer codes.
MAX_ONE_HOT = 30


def from_csv(
    path: str | Path,
    *,
    target: str,
    task: str | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    name: str | None = None,
) -> Data:
    """A CSV table with a `target` column.

    Text, boolean and categorical columns are one-hot encoded (integer codes above 30 levels);
    numeric columns are standardised with training statistics only, missing values filled with
    the training median (plus a missing-indicator column). A text or small-integer target is
    classification, a float target regression, unless `task` says otherwise.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"CSV file {str(p)!r} does not exist: check the path.")
    try:
        df = pd.read_csv(p)
    except Exception as e:
        raise DataError(f"Cannot read {str(p)!r} as CSV ({type(e).__name__}: {e}).") from e
    if df.empty:
        raise DataError(f"{str(p)!r} has no rows: the table needs at least one sample per split.")
    if target not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise DataError(f"{str(p)!r} has no column {target!r}: its columns are {cols}.")
    ycol = df[target]
    if ycol.isna().any():
        n = int(ycol.isna().sum())
        raise DataError(
            f"The target column {target!r} has {n} missing values: drop those rows or fill them."
        )
    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{str(p)!r} has only the target column: there are no input features.")
    if task is None:
        numeric = pd.api.types.is_numeric_dtype(ycol) and not pd.api.types.is_bool_dtype(ycol)
        is_int = numeric and np.all(np.mod(ycol.to_numpy(dtype=float), 1) == 0)
        task = (
            "classification"
            if not numeric or (is_int and ycol.nunique() <= MAX_INT_CLASSES)
            else "regression"
        )
    classes = None
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(ycol):
            raise DataError(f"Target {target!r} is not numeric: regression needs numbers.")
        y = torch.tensor(ycol.to_numpy(dtype=np.float32))
        labels = None
    else:
        codes, uniques = pd.factorize(ycol, sort=True)
        classes = [str(u) for u in uniques]
        y = torch.tensor(codes, dtype=torch.long)
        labels = codes
    parts = split_indices(len(df), labels, valid=valid, test=test, train_dev=train_dev, seed=seed)
    encoder = TableEncoder.fit(features.iloc[parts["train"].numpy()])
    x = torch.from_numpy(encoder.transform(features))
    splits = {k: Split(x[i], y[i], index=i) for k, i in parts.items()}
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality="tabular",
        classes=classes,
        feature_names=encoder.output_names,
        name=name or p.stem,
        meta={"source": str(p), "target": target, "columns": encoder.describe(), "seed": seed},
    )


class TableEncoder:
    """Column-wise encoding fitted on training rows only (no leakage of valid/test statistics)."""

    def __init__(
        self, numeric: dict[str, tuple[float, float, float]], categorical: dict[str, list[str]]
    ):
        self.numeric = numeric  # column -> (median, mean, std)
        self.categorical = categorical  # column -> levels
        self.output_names: list[str] = []
        for c in numeric:
            self.output_names += [c, f"{c}__missing"]
        for c, levels in categorical.items():
            self.output_names += (
                [f"{c}={lv}" for lv in levels] if len(levels) <= MAX_ONE_HOT else [c]
            )

    @classmethod
    def fit(cls, df: Any) -> TableEncoder:
        import pandas as pd

        numeric, categorical = {}, {}
        for c in df.columns:
            col = df[c]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                numeric[str(c)] = _column_stats(col.to_numpy(dtype=float))
            else:
                categorical[str(c)] = sorted(col.astype(str).unique().tolist())
        return cls(numeric, categorical)

    def transform(self, df: Any) -> np.ndarray:
        cols = []
        for c, (med, mean, std) in self.numeric.items():
            v = df[c].to_numpy(dtype=float)
            missing = np.isnan(v)  # ±inf stays: the audit reports it as non-finite
            cols += [_standardise(c, np.where(missing, med, v), mean, std), missing.astype(float)]
        for c, levels in self.categorical.items():
            v = df[c].astype(str).to_numpy()
            if len(levels) <= MAX_ONE_HOT:
                cols += [(v == lv).astype(float) for lv in levels]
            else:
                lookup = {lv: i for i, lv in enumerate(levels)}
                cols.append(np.array([lookup.get(s, -1) for s in v], dtype=float))
        return np.stack(cols, axis=1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": {c: len(v) for c, v in self.categorical.items()},
        }


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
