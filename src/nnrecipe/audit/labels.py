"""Checks on the targets: `label-noise` (confident learning) and `class-imbalance`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.data import rows
from nnrecipe.findings import Finding, Severity

# Cross-validation of the cheap model: folds, and at most this many samples to fit each fold's
# model (out-of-fold predictions still cover every sample, so the cost stays linear in N).
LABEL_FOLDS = 5
LABEL_FIT_SAMPLES = 10_000
# Severity by the estimated fraction of wrong labels. Measured with the cheap model: clean digits
# estimate 0.1%, breast_cancer 0.4%, wine 0%; 20% planted noise estimates 16-20% (digits,
# breast_cancer, synthetic images / signals / tables). Two 1-D Gaussian classes 2 std apart
# (16% Bayes error, clean labels) estimate 5.2%: boundary ambiguity stays below the warning.
# Limitation: heavier overlap (1 std apart: 23%) looks like label noise to confident learning.
NOISE_WARNING = 0.08
NOISE_ERROR = 0.30
# The estimate is only trusted when the cheap model is sure of itself: its mean top probability,
# rescaled so that chance (1/k) is 0 and certainty 1, must reach COMPETENT_CONFIDENCE. A weak
# model flags its own mistakes as label errors. Measured: 20% planted noise scores 0.52-0.70
# (digits, breast_cancer, synthetic images / signals / tables), 40% on digits 0.45; random labels
# 0.07-0.13 and MNIST-1D with clean labels (linear model at 34% accuracy) 0.30.
COMPETENT_CONFIDENCE = 0.4
# A few percent of wrong labels (published audits of benchmark sets find a few percent on
# average) is worth a warning when the cheap model is very sure of itself, so that its
# disagreements are label errors rather than class overlap. Measured: digits with 4% look-alike
# swaps (1/7, 3/8, 4/9, 5/6; 48 labels) estimate 2.8% at confidence 0.89, 2% swaps 1.9% at 0.91;
# clean data: digits 0.06% (0.94), breast_cancer 0.35% (0.93), two Gaussians 3 std apart 0.9%
# (0.86), three 5-d blobs 2 std apart 4.7% at 0.79 (overlap, not noise: stays info).
FEW_NOISE_WARNING = 0.02
FEW_NOISE_CONFIDENCE = 0.85
FEW_NOISE_SUSPECTS = 10
# Class imbalance: majority/minority count ratio for info and warning (65/35 is 1.9: nothing).
IMBALANCE_INFO = 3.0
IMBALANCE_WARNING = 10.0
# Evidence and pictures list at most this many suspicious labels.
MAX_SUSPECTS = 100


def cross_val_probs(ctx: AuditContext, x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Out-of-fold class probabilities (N, k) from a logistic regression on `x`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(ctx.seed + 3)
    counts = np.bincount(y, minlength=k)
    folds = int(min(LABEL_FOLDS, max(2, counts[counts > 0].min())))
    probs = np.full((len(y), k), 1.0 / k)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=ctx.seed)
    for fit_idx, out_idx in splitter.split(x, y):
        if len(fit_idx) > LABEL_FIT_SAMPLES:
            fit_idx = rng.choice(fit_idx, LABEL_FIT_SAMPLES, replace=False)
        seen = np.unique(y[fit_idx])
        if len(seen) < 2:  # a class seen once left this fold with one class: predict it
            probs[out_idx] = 0.0
            probs[out_idx, seen[0]] = 1.0
            continue
        scaler = StandardScaler().fit(x[fit_idx])
        model = LogisticRegression(C=1.0, max_iter=300)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: a cheap model is enough
            model.fit(scaler.transform(x[fit_idx]), y[fit_idx])
        p = model.predict_proba(scaler.transform(x[out_idx]))
        probs[np.ix_(out_idx, model.classes_)] = p
        missing = np.setdiff1d(np.arange(k), model.classes_)
        probs[np.ix_(out_idx, missing)] = 0.0
    return probs


def label_scan(ctx: AuditContext) -> dict[str, Any] | None:
    """Confident learning over all labelled splits: suspects, estimated rate, model accuracy."""
    if "labels" in ctx.cache:
        return ctx.cache["labels"]
    if not ctx.has_labels or ctx.num_classes < 2:
        return None
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues

    names = [k for k in ("train", "valid", "test", "train_dev") if k in ctx.splits]
    x = np.concatenate([ctx.features(k) for k in names])
    y = np.concatenate([ctx.labels(k) for k in names])
    owner = [(k, i) for k in names for i in range(len(ctx.splits[k].x))]
    k = ctx.num_classes
    present = np.bincount(y, minlength=k)
    if (present > 0).sum() < 2 or len(y) < 20:
        return None
    with warnings.catch_warnings():
        # rare classes: scikit-learn and cleanlab warn that a class has few samples; the
        # class-imbalance check reports that
        warnings.simplefilter("ignore")
        probs = cross_val_probs(ctx, x, y, k)
        # cleanlab needs every class present; absent classes get a tiny probability mass.
        probs = np.clip(probs, 1e-6, None)
        probs /= probs.sum(axis=1, keepdims=True)
        method = "off_diagonal_calibrated" if k < 4 else "off_diagonal"
        ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
        estimate = int(num_label_issues(y, probs, estimation_method=method))
    pred = probs.argmax(axis=1)
    confidence = (probs.max(axis=1).mean() - 1 / k) / (1 - 1 / k)
    kept = np.ones(len(y), bool)
    kept[ranked] = False
    scan = {
        "owner": owner,
        "ranked": ranked,
        "y": y,
        "pred": pred,
        "probs": probs,
        "rate": estimate / len(y),
        "accuracy": float((pred == y).mean()),
        "confidence": float(confidence),
        "accuracy_kept": float((pred[kept] == y[kept]).mean()) if kept.any() else 0.0,
    }
    ctx.cache["labels"] = scan
    return scan


def label_noise(ctx: AuditContext) -> list[Finding]:
    """Labels that disagree with out-of-sample predictions of a cheap model (cleanlab)."""
    scan = label_scan(ctx)
    if scan is None or len(scan["ranked"]) == 0:
        return []
    rate, competent = scan["rate"], scan["confidence"] >= COMPETENT_CONFIDENCE
    ranked = scan["ranked"]
    if not competent:
        severity = Severity.INFO
    elif rate >= NOISE_ERROR:
        severity = Severity.ERROR
    elif rate >= NOISE_WARNING:
        severity = Severity.WARNING
    elif (
        rate >= FEW_NOISE_WARNING
        and scan["confidence"] >= FEW_NOISE_CONFIDENCE
        and len(ranked) >= FEW_NOISE_SUSPECTS
    ):
        severity = Severity.WARNING
    else:
        severity = Severity.INFO
    per_split: dict[str, list[int]] = {}
    for r in ranked:
        split, pos = scan["owner"][r]
        per_split.setdefault(split, []).append(pos)
    names = ctx.class_names
    columns = rows.columns(ctx.data)  # a table: each suspect with its row (line, values)
    suspects = []
    for r in ranked[:MAX_SUSPECTS]:
        split, pos = scan["owner"][r]
        ref = ctx.ref(split, pos)
        if columns:
            ref.update(rows.row(ctx.data, split, pos))
        ref.update(
            given=names[scan["y"][r]],
            predicted=names[scan["pred"][r]],
            confidence_in_given=round(float(scan["probs"][r, scan["y"][r]]), 4),
        )
        suspects.append(ref)
    where = ", ".join(f"{len(v)} in {k}" for k, v in per_split.items())
    where_shown = (
        "their rows: line and values in the evidence, a table in the report"
        if columns
        else "audit/label_issues.png"
    )
    message = (
        f"An estimated {rate:.1%} of the labels are wrong ({len(ranked)} suspicious samples: "
        f"{where}); a cheap model trained on the other samples confidently predicts another "
        "class for them."
    )
    if not competent:
        message += (
            f" The cheap model is unsure (accuracy {scan['accuracy']:.0%}, confidence "
            f"{scan['confidence']:.2f} on a 0-1 scale from chance to certain), so most of these "
            "are its own mistakes: treat as a hint."
        )
    return [
        Finding(
            "label-noise",
            severity,
            message,
            {
                "estimated_rate": round(rate, 4),
                "suspicious": len(ranked),
                "cheap_model": "logistic regression on PCA features, "
                f"{LABEL_FOLDS}-fold cross-validated probabilities",
                "cheap_model_accuracy": round(scan["accuracy"], 4),
                "cheap_model_accuracy_on_kept": round(scan["accuracy_kept"], 4),
                "cheap_model_confidence": round(scan["confidence"], 4),
                "trusted": competent,
                "suspects": suspects,
                **({"columns": columns} if columns else {}),
                "samples": ctx.samples({k: np.array(sorted(v)) for k, v in per_split.items()}),
            },
            f"Look at the suspects ({where_shown}, given vs predicted label); relabel or drop "
            "the wrong ones. With many, clean the labels with cleanlab before training, or use label "
            "smoothing / a noise-robust loss.",
        )
    ]


def class_imbalance(ctx: AuditContext) -> list[Finding]:
    """Rare classes in train, and classes missing from a held-out split."""
    if not ctx.has_labels or ctx.num_classes < 2:
        return []
    k, names = ctx.num_classes, ctx.class_names
    counts = np.bincount(ctx.labels("train"), minlength=k)
    findings = []
    present = counts[counts > 0]
    ratio = float(present.max() / present.min())
    binary = k == 2
    metric = (
        "balanced accuracy, F1 of the rare class and precision-recall AUC"
        if binary
        else "balanced accuracy and macro-averaged F1 (and per-class recall)"
    )
    rare = [
        names[i]
        for i in np.argsort(counts)
        if counts[i] > 0 and counts.max() / counts[i] >= IMBALANCE_INFO
    ]
    evidence = {
        "train_counts": {names[i]: int(c) for i, c in enumerate(counts)},
        "ratio": round(ratio, 2),
        "rare_classes": rare[:50],
        "metric": metric,
    }
    missing_train = [names[i] for i in range(k) if counts[i] == 0]
    if missing_train:
        findings.append(
            Finding(
                "class-imbalance",
                Severity.WARNING,
                f"Class(es) {missing_train} have no training samples: the model can never predict them.",
                evidence,
                "Collect training samples of those classes, or drop them from the task.",
            )
        )
    if ratio >= IMBALANCE_INFO:
        severity = Severity.WARNING if ratio >= IMBALANCE_WARNING else Severity.INFO
        findings.append(
            Finding(
                "class-imbalance",
                severity,
                f"The largest class has {ratio:.1f}x as many training samples as the rarest "
                f"({names[int(np.argmax(counts))]}: {counts.max()}, {rare[0]}: {present.min()}); "
                f"accuracy hides errors on rare classes: use {metric}.",
                evidence,
                f"Report {metric}; weight the loss by inverse class frequency (`nnrecipe run "
                "--class-weights balanced`, Learner(class_weights='balanced')) or oversample the "
                "rare classes; collect more of them.",
            )
        )
    for split in ctx.heldout:
        c = np.bincount(ctx.labels(split), minlength=k)
        gone = [names[i] for i in range(k) if counts[i] > 0 and c[i] == 0]
        if gone and len(ctx.splits[split].x) >= 5 * k:
            findings.append(
                Finding(
                    "class-imbalance",
                    Severity.WARNING,
                    f"The {split} split has no samples of class(es) {gone[:10]}: its score says "
                    "nothing about them.",
                    {
                        **evidence,
                        "split": split,
                        f"{split}_counts": {names[i]: int(v) for i, v in enumerate(c)},
                    },
                    "Split with stratification by class (Data.from_arrays does) or add those samples.",
                )
            )
    return findings
