"""Table audits about columns: `target-leak`, `id-column`, `missing-target`.

`target-leak` fits a one-feature model (a small decision tree) per column with 5-fold
cross-validation on training rows, and names each column that alone predicts the target almost
perfectly on held-out folds: an id assigned in target order, a column computed from the label, a
timestamp of when the outcome was recorded. Id columns left out of the model are tested too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.findings import Finding, Severity

# Rows of train the one-feature models are cross-validated on (the cost stays bounded).
LEAK_SAMPLE = 2000
# Columns tested at most (images beyond this are not tables: a pixel is no leak).
MAX_COLUMNS = 256
FOLDS = 5
# One-feature tree: enough leaves for a threshold per class of an id sorted by target.
LEAVES = 32
# Leak when one column's held-out error is at most LEAK_RATIO of the prior's error and at most
# LEAK_ERROR (classification), or its held-out R² is at least LEAK_R2 (regression). Measured
# best single columns, held-out error (ratio to the prior's error): penguins 0.220 (0.39,
# flipper length), breast_cancer 0.098 (0.26), wine 0.274 (0.46), digits 0.717, iris 0.048
# (0.07, petal width): quiet. An id in target order (correlation 0.87 with a binary label):
# 0.000.
LEAK_RATIO = 0.05
LEAK_ERROR = 0.02
# diabetes' best column reaches R² 0.19 (bmi); an id in target order ~0.99.
LEAK_R2 = 0.97


def _candidates(ctx: AuditContext, rows: np.ndarray) -> list[tuple[str, np.ndarray, bool]]:
    """(name, train values at `rows`, fed to the model) for every column to test."""
    x = ctx.splits["train"].x
    names = list(ctx.data.feature_names or [])
    if len(names) != x.shape[1]:
        names = [f"x{j}" for j in range(x.shape[1])]
    out = [(names[j], x[rows, j], True) for j in range(min(x.shape[1], MAX_COLUMNS))]
    table = ctx.data.meta.get("table") or {}
    frame = getattr(ctx.data, "frame", None)
    if frame is not None and table.get("ids"):
        import pandas as pd

        src = ctx.splits["train"].source_index[rows]
        for name in table["ids"]:
            col = frame[name]
            values = (
                pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
                if pd.api.types.is_numeric_dtype(col)
                else pd.factorize(col, sort=True)[0].astype(float)  # ids in sorted order
            )
            out.append((name, values[src], False))
    return out


def _one_feature_scores(
    values: np.ndarray, y: np.ndarray, classify: bool, seed: int
) -> float | None:
    """Held-out error rate (classification) or R² (regression) of a tree on one column."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    v = np.nan_to_num(values.astype(float), nan=-1e30).reshape(-1, 1)
    if len(np.unique(v)) < 2:
        return None
    if classify:
        counts = np.bincount(y)
        folds = min(FOLDS, int(counts[counts > 0].min()))
        if folds < 2:
            return None
        cv: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
        tree: Any = DecisionTreeClassifier(max_leaf_nodes=LEAVES, random_state=seed)
        pred = cross_val_predict(tree, v, y, cv=cv)
        return float((pred != y).mean())
    cv = KFold(FOLDS, shuffle=True, random_state=seed)
    tree = DecisionTreeRegressor(max_leaf_nodes=LEAVES, random_state=seed)
    pred = cross_val_predict(tree, v, y, cv=cv)
    var = float(((y - y.mean()) ** 2).mean())
    return 1.0 - float(((pred - y) ** 2).mean()) / var if var > 0 else None


def target_leak(ctx: AuditContext) -> list[Finding]:
    """Columns that alone predict the target almost perfectly on held-out rows."""
    train = ctx.splits["train"]
    n = len(train.x)
    if n < 2 * FOLDS:
        return []
    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.choice(n, LEAK_SAMPLE, replace=False)) if n > LEAK_SAMPLE else np.arange(n)
    classify = ctx.has_labels
    if classify:
        y = ctx.labels("train")[rows]
        prior_error = 1.0 - np.bincount(y).max() / len(y)
    else:
        y = train.y.reshape(n, -1)[rows, 0].astype(float)
        prior_error = 1.0
    if prior_error <= 0:
        return []
    measured, leaks = {}, []
    for name, values, fed in _candidates(ctx, rows):
        score = _one_feature_scores(values, y, classify, ctx.seed)
        if score is None:
            continue
        measured[name] = round(score, 4)
        leak = (
            score <= LEAK_ERROR and score <= LEAK_RATIO * prior_error
            if classify
            else score >= LEAK_R2
        )
        if leak:
            finite = values[np.isfinite(values)]
            leaks.append((name, score, fed, bool(np.all(finite == np.round(finite)))))
    metric = "held-out error" if classify else "held-out R²"
    best = sorted(measured.items(), key=lambda kv: kv[1], reverse=not classify)[:5]
    ctx.cache["leak_scores"] = dict(best)
    findings = []
    for name, score, fed, whole in leaks:
        what = "a model input" if fed else "an id column left out of the model"
        # An id, counter or code (whole numbers) that gives the answer away is a leak; a real
        # measurement with a clean threshold (synthetic classes along one axis) may be
        # legitimate: said, not alarmed.
        severity = (Severity.ERROR if fed else Severity.WARNING) if whole else Severity.INFO
        findings.append(
            Finding(
                "target-leak",
                severity,
                f"Column {name!r} ({what}) alone predicts the target almost perfectly: a "
                f"one-feature model's {metric} is {score:.3f} with {FOLDS}-fold "
                f"cross-validation on {len(rows)} training rows"
                + (f" (predicting the prior: {prior_error:.3f})." if classify else "."),
                {
                    "column": name,
                    "fed_to_model": fed,
                    "whole_numbers": whole,
                    "metric": metric,
                    "score": round(score, 4),
                    "prior_error": round(float(prior_error), 4) if classify else None,
                    "rows": int(len(rows)),
                    "best_columns": dict(best),
                },
                "Check how the column was made: an id assigned in target order, a value computed "
                "from the label or recorded after the outcome is a leak; drop it (or use it as "
                "--group) and rerun.",
            )
        )
    return findings


def id_column(ctx: AuditContext) -> list[Finding]:
    """Columns unique per row, left out of the model (the user may want them as a group)."""
    ids = (ctx.data.meta.get("table") or {}).get("ids") or []
    if not ids:
        return []
    return [
        Finding(
            "id-column",
            Severity.INFO,
            f"Column(s) {', '.join(map(repr, ids))} hold a different value in every row (ids) "
            "and are not fed to the model.",
            {"columns": list(ids)},
            "Nothing to do if they are ids; pass --categorical COLUMN to use one as a feature, or "
            "--group COLUMN to keep its rows in one split.",
        )
    ]


def missing_target(ctx: AuditContext) -> list[Finding]:
    """Rows left out because their target is missing, by CSV line."""
    lines = (ctx.data.meta.get("table") or {}).get("missing_target_rows") or []
    if not lines:
        return []
    shown = ", ".join(map(str, lines[:20])) + (" ..." if len(lines) > 20 else "")
    total = len(lines) + sum(len(s.x) for s in ctx.splits.values())
    return [
        Finding(
            "missing-target",
            Severity.WARNING,
            f"{len(lines)} of {total} rows have no target value and were left out (CSV lines "
            f"{shown}).",
            {"count": len(lines), "lines": lines[:2000]},
            "Fill the target in those rows if it is known; otherwise nothing to do (they are "
            "not used for training or scoring).",
        )
    ]


# code-shift: total-variation distance between a coded column's level frequencies in train and
# in a held-out split, against the same distance after pooling the two and re-splitting at
# random (the mean of SHIFT_PERMUTATIONS re-splits: what a random split gives). Measured, clean:
# penguins (3 seeds) 0.01-0.17 with random re-splits at 0.01-0.24 (its 34-row test split is
# noisy), never above the limit; movielens users / items 0.09-0.15 (random 0.09-0.14).
# Planted: penguins' island codes re-assigned in valid 0.30 (random 0.07); movielens user and
# item ids swapped in valid 0.46 / 0.49 (random 0.10 / 0.11).
SHIFT_PERMUTATIONS = 5
SHIFT_RATIO = 2.0
SHIFT_MIN = 0.15


def _tv(a: np.ndarray, b: np.ndarray, size: int) -> float:
    pa = np.bincount(a, minlength=size) / max(len(a), 1)
    pb = np.bincount(b, minlength=size) / max(len(b), 1)
    return 0.5 * float(np.abs(pa - pb).sum())


def _coded_columns(data: Any) -> list[tuple[str, str, int]]:
    """(input name, column name, column position) of every integer-coded input column."""
    x = data.train.x
    if not isinstance(x, dict):
        return []
    table = data.meta.get("table") or {}
    out = []
    for key, t in x.items():
        if t.is_floating_point():
            continue
        names = list(table.get("categorical") or []) if key == "cat" else [key]
        width = 1 if t.ndim == 1 else int(t.shape[1])
        for j in range(width):
            out.append((key, names[j] if j < len(names) else f"{key}[{j}]", j))
    return out


def code_shift(ctx: AuditContext) -> list[Finding]:
    """Coded columns (categories, user / item ids) whose levels are distributed differently
    in a held-out split than in train: codes re-assigned between splits, ids swapped."""
    findings = []
    rng = np.random.default_rng(ctx.seed)
    for key, name, j in _coded_columns(ctx.data):

        def codes(split: str, key: str = key, j: int = j) -> np.ndarray:
            t = ctx.data.splits[split].x[key]
            col = t if t.ndim == 1 else t[:, j]
            c = col.numpy().astype(np.int64)
            return c[c > 0]  # 0 is "unseen in train" (held-out only, by construction)

        a = codes("train")
        for split in ctx.heldout:
            b = codes(split)
            if len(a) < 20 or len(b) < 20:
                continue
            size = int(max(a.max(), b.max())) + 1
            tv = _tv(a, b, size)
            both = np.concatenate([a, b])
            tv0 = float(
                np.mean(
                    [
                        _tv(p[: len(a)], p[len(a) :], size)
                        for p in (rng.permutation(both) for _ in range(SHIFT_PERMUTATIONS))
                    ]
                )
            )
            if tv <= max(SHIFT_RATIO * tv0, tv0 + SHIFT_MIN):
                continue
            findings.append(
                Finding(
                    "code-shift",
                    Severity.WARNING,
                    f"The codes of {name!r} are distributed differently in {split} than in train "
                    f"(total-variation distance {tv:.2f}; a random split gives {tv0:.2f}): the "
                    "codes may have been re-assigned between splits (an encoder fitted per split) "
                    "or two id columns swapped.",
                    {
                        "column": name,
                        "split": split,
                        "distance": round(tv, 4),
                        "random": round(tv0, 4),
                    },
                    "Encode every split with the encoder fitted on train (nr.Data.from_csv / "
                    "from_ratings do), and check that each input gets the right column.",
                )
            )
    return findings
