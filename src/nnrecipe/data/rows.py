"""A table's rows as the user knows them, for evidence and report tables.

A table read from a CSV (``data.frame``): the CSV line (the header is line 1) and the values
as in the file. Any other table (a 2-D tensor of features, e.g. ``nr.Data.from_arrays``):
the sample's index in the source and its feature values. Data that is not a table of rows
(images, signals, id pairs) has no columns here: the callers show nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

MAX_COLUMNS = 12  # columns shown per row (a row table stays readable)


def cell(v: Any) -> Any:
    """A JSON-able cell: floats rounded, NaN as None, other values as text."""
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else round(float(v), 4)
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, int | str | bool) or v is None else str(v)


def _frame(data: Any) -> tuple[Any, dict[str, Any]]:
    frame = getattr(data, "frame", None)
    table = data.meta.get("table") or {}
    return (frame, table) if frame is not None and table else (None, {})


def _features(data: Any) -> Tensor | None:
    x = data.train.x if data.train.in_memory else None
    return x if isinstance(x, Tensor) and x.ndim == 2 else None


def columns(data: Any) -> list[str]:
    """The columns a row shows (at most `MAX_COLUMNS`, the target left out); [] for data
    without rows."""
    frame, table = _frame(data)
    if frame is not None:
        return [str(c) for c in frame.columns if c != table.get("target")][:MAX_COLUMNS]
    x = _features(data)
    if x is None:
        return []
    names = list(data.feature_names or [])
    return [str(names[j]) if j < len(names) else f"x{j}" for j in range(x.shape[1])][:MAX_COLUMNS]


def row(data: Any, split: str, position: int) -> dict[str, Any]:
    """``{"line": CSV line or None, "index": index in the source, "values": [...]}`` of the
    sample at `position` of `split` (`columns(data)`'s columns, in order)."""
    s = data.splits[split]
    index = int(s.index[position]) if s.index is not None else int(position)
    frame, table = _frame(data)
    if frame is not None:
        cols = columns(data)
        values = frame.iloc[index]
        return {
            "line": index + int(table.get("line_offset", 2)),
            "index": index,
            "values": [cell(values[c]) for c in frame.columns if str(c) in cols],
        }
    x = s.x[position].reshape(-1)[:MAX_COLUMNS] if s.in_memory else None
    return {
        "line": None,
        "index": index,
        "values": [] if x is None else [cell(float(v)) for v in x.tolist()],
    }
