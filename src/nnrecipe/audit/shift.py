"""`distribution-shift`: can a classifier tell the training inputs from a held-out split's?"""

from __future__ import annotations

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.findings import Finding, Severity

# Each side is subsampled to at most this many samples: the test's cost does not grow with N.
SHIFT_SAMPLES = 2000
SHIFT_FOLDS = 3
# Cross-validated AUC of the train-vs-held-out classifier. Chance is 0.5; it must also exceed
# chance by SHIFT_SIGMAS standard errors of the AUC under no shift (small splits are noisy).
# Measured on random splits of digits, mnist1d, wine, breast_cancer: AUC 0.43-0.55.
SHIFT_INFO = 0.60
SHIFT_WARNING = 0.75
SHIFT_SIGMAS = 4.0


def domain_auc(ctx: AuditContext, other: str) -> tuple[float, float, int, int]:
    """Cross-validated AUC of gradient boosting telling train from `other`, its null standard
    error, and the sample counts used."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(ctx.seed + 4)
    a, b = ctx.features("train"), ctx.features(other)
    n = min(len(a), len(b), SHIFT_SAMPLES)
    a = a[rng.choice(len(a), n, replace=False)] if len(a) > n else a
    b = b[rng.choice(len(b), n, replace=False)] if len(b) > n else b
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    scores = np.zeros(len(y))
    folds = StratifiedKFold(SHIFT_FOLDS, shuffle=True, random_state=ctx.seed)
    for fit, held in folds.split(x, y):
        model = HistGradientBoostingClassifier(
            max_iter=60, learning_rate=0.1, max_leaf_nodes=15, random_state=ctx.seed
        )
        model.fit(x[fit], y[fit])
        scores[held] = model.predict_proba(x[held])[:, 1]
    auc = float(roc_auc_score(y, scores))
    n1, n2 = len(a), len(b)
    null_se = float(np.sqrt((n1 + n2 + 1) / (12 * n1 * n2)))
    return auc, null_se, n1, n2


def _shifted_features(ctx: AuditContext, other: str) -> list[dict[str, float | str]]:
    """The input features / channels whose held-out mean moved most, in training stds."""
    mean, std = ctx.scale
    diff = (ctx.splits[other].x.mean(axis=0) - mean) / std
    if ctx.data.modality == "tabular":
        names = ctx.data.feature_names or [f"feature {i}" for i in range(len(diff))]
        top = np.argsort(-np.abs(diff))[:5]
        return [{"feature": names[i], "mean_shift_in_std": round(float(diff[i]), 3)} for i in top]
    c = ctx.data.input_shape[0]
    tr = ctx.splits["train"].x.reshape(len(ctx.splits["train"].x), c, -1)
    ot = ctx.splits[other].x.reshape(len(ctx.splits[other].x), c, -1)
    out = []
    for ch in range(c):
        s = float(tr[:, ch].std()) or 1.0
        out.append(
            {
                "channel": str(ch),
                "mean_shift_in_std": round(float(ot[:, ch].mean() - tr[:, ch].mean()) / s, 3),
                "std_ratio": round(float(ot[:, ch].std()) / s, 3),
            }
        )
    return out


def distribution_shift(ctx: AuditContext) -> list[Finding]:
    """Train and a held-out split are distinguishable by a classifier."""
    findings = []
    for other in ("valid", "test"):
        if (
            other not in ctx.splits
            or min(len(ctx.splits[other].x), len(ctx.splits["train"].x)) < 20
        ):
            continue
        auc, se, n1, n2 = domain_auc(ctx, other)
        ctx.cache.setdefault("shift_auc", {})[other] = round(auc, 4)
        if auc < max(SHIFT_INFO, 0.5 + SHIFT_SIGMAS * se):
            continue
        severity = Severity.WARNING if auc >= SHIFT_WARNING else Severity.INFO
        findings.append(
            Finding(
                "distribution-shift",
                severity,
                f"A classifier tells train from {other} inputs apart with AUC {auc:.2f} (chance 0.50, "
                f"+-{se:.2f}): the {other} data does not look like the training data.",
                {
                    "split": other,
                    "auc": round(auc, 4),
                    "null_std_error": round(se, 4),
                    "samples_compared": [n1, n2],
                    "most_shifted": _shifted_features(ctx, other),
                },
                f"Hold out a train-dev split (--train-dev 0.1): if the model does well on train-dev but "
                f"not on {other}, the gap is the mismatch; make training data look like {other} "
                "(collect or synthesise), or check the preprocessing of each split.",
            )
        )
    return findings
