"""Ng's bias / variance / mismatch analysis: the gaps between successive errors, and one check
function per finding code.

Errors, from the best reachable to the one that matters:

    human-level (≈ Bayes) → train → train-dev → valid → test
          avoidable bias   variance  data mismatch  overfit to valid

A gap counts only when it is larger than the noise of the two error estimates: for
classification, twice the standard error of the difference of two binomial proportions,
``2·sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)``, and at least 1 percentage point (MIN_GAP); for
regression (errors in the target's units), at least 5% of the larger error (MIN_RELATIVE_GAP).
The largest significant gap is the verdict: work on it first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nnrecipe.diagnose.codes import NEXT_STEP
from nnrecipe.findings import Finding, Severity

MIN_GAP = 0.01  # classification: below one percentage point nobody acts on a gap
MIN_RELATIVE_GAP = 0.05  # regression: 5% of the larger error
Z = 2.0  # standard errors: ~95% two-sided

# (code, lower level, upper level, what the gap is called)
GAPS = (
    ("avoidable-bias", "human", "train", "avoidable bias"),
    ("variance", "train", "train_dev", "variance"),
    ("data-mismatch", "train_dev", "valid", "data mismatch"),
    ("overfit-to-valid", "valid", "test", "overfit to valid"),
)


@dataclass
class DiagnosisContext:
    """What the checks see: errors per level, split sizes, task kind, test-evaluation count."""

    errors: dict[str, float]  # human, train, train_dev, valid, test (missing when unknown)
    sizes: dict[str, int] = field(default_factory=dict)
    regression: bool = False
    human_known: bool = True
    test_evaluations: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    # The baselines' valid errors ({"linear": 0.03, ...}): without a human error they are the
    # measured stand-in for "what this data allows" (a model that cannot fit its own training
    # set better than a linear model generalises has avoidable bias, whatever the Bayes error).
    baselines: dict[str, float] = field(default_factory=dict)
    # False when the train error measures another problem than valid's (`Task.
    # train_error_comparable`, few-shot): bias is judged from the valid error, no variance row.
    train_comparable: bool = True

    @property
    def fitted(self) -> str:
        """The level whose error says how well the model fits: train, else valid."""
        return "train" if self.train_comparable else "valid"

    def gap(self, code: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["code"] == code), None)


def threshold(ctx: DiagnosisContext, low: str, high: str) -> float:
    """The smallest gap between levels `low` and `high` that is not noise."""
    a, b = ctx.errors[low], ctx.errors[high]
    if ctx.regression:
        return MIN_RELATIVE_GAP * max(abs(a), abs(b))
    var = 0.0
    for level, p in ((low, a), (high, b)):
        n = ctx.sizes.get(level)
        if n:
            p = min(max(p, 0.0), 1.0)
            # A zero error still has uncertainty: use the "rule of three" bound 3/n instead.
            p = min(3.0 / n, 0.5) if p == 0 else p  # 3/n is no probability for n < 6
            var += p * (1 - p) / n
    return max(MIN_GAP, Z * math.sqrt(var))


def gap_rows(ctx: DiagnosisContext) -> list[dict[str, Any]]:
    """Ng's table: one row per gap between consecutive known levels.

    Without a train-dev split, variance is valid − train (it then includes any mismatch).
    """
    rows = []
    errors = dict(ctx.errors)
    if not ctx.human_known:
        errors.pop("human", None)  # unknown: avoidable bias is judged from the baselines
        bias = _bias_from_baselines(ctx)
        if bias is not None:
            rows.append(bias)
    if not ctx.train_comparable:
        errors.pop("train", None)
        if "human" in errors:
            rows.append(_row(ctx, "avoidable-bias", "human", "valid", "avoidable bias"))
    for code, low, high, name in GAPS:
        if code == "variance" and "train_dev" not in errors:
            high = "valid"
        if code == "data-mismatch" and "train_dev" not in errors:
            continue
        if low not in errors or high not in errors:
            continue
        rows.append(_row(ctx, code, low, high, name))
    return rows


def _row(ctx: DiagnosisContext, code: str, low: str, high: str, name: str) -> dict[str, Any]:
    gap = ctx.errors[high] - ctx.errors[low]
    limit = threshold(ctx, low, high)
    return {
        "code": code,
        "gap": name,
        "from": low,
        "to": high,
        "value": gap,
        "threshold": limit,
        "significant": gap > limit + 1e-12,  # float noise: 0.16 - 0.15 > 0.01
    }


def _bias_from_baselines(ctx: DiagnosisContext) -> dict[str, Any] | None:
    """Avoidable bias measured without a human error: the model's train error against the best
    baseline's valid error. Significant only when the model fits its own training set no
    better than that baseline generalises (by more than the noise)."""
    level = ctx.fitted
    if not ctx.baselines or level not in ctx.errors:
        return None
    name, ref = min(ctx.baselines.items(), key=lambda kv: kv[1])
    errors = {**ctx.errors, "baseline": ref}
    sizes = {**ctx.sizes, "baseline": ctx.sizes.get("valid", 0)}
    probe = DiagnosisContext(errors, sizes, ctx.regression, False)
    limit = threshold(probe, "baseline", level)
    gap = ctx.errors[level] - ref
    return {
        "code": "avoidable-bias",
        "gap": f"avoidable bias (vs the {name} baseline; human error unknown)",
        "from": f"{name} baseline",
        "to": level,
        "value": gap,
        "threshold": limit,
        # Underfitting: train (or valid) error not below the baseline's valid error by more
        # than the noise.
        "significant": gap > -limit,
    }


def _finding(ctx: DiagnosisContext, code: str, message: str) -> list[Finding]:
    row = ctx.gap(code)
    if row is None or not row["significant"]:
        return []
    largest = max((r for r in ctx.rows if r["significant"]), key=lambda r: r["value"])
    evidence = {**row, "errors": ctx.errors, "sizes": ctx.sizes}
    if largest["code"] != code:
        # One next step at a time: the largest gap is the warning; a smaller one (whose fix may
        # pull the other way, e.g. bigger vs smaller model) is noted, to revisit after it.
        return [
            Finding(
                code,
                Severity.INFO,
                message.format(**row, **_named(ctx))
                + f" Smaller than the {largest['gap']} gap: revisit it after that one.",
                evidence,
                NEXT_STEP[code],
            )
        ]
    return [
        Finding(
            code,
            Severity.WARNING,
            message.format(**row, **_named(ctx)) + " It is the largest gap: work on it first.",
            evidence,
            NEXT_STEP[code],
        )
    ]


def _named(ctx: DiagnosisContext) -> dict[str, Any]:
    return {f"e_{k}": v for k, v in ctx.errors.items()}


def avoidable_bias(ctx: DiagnosisContext) -> list[Finding]:
    if not ctx.human_known:
        row = ctx.gap("avoidable-bias")
        return _finding(
            ctx,
            "avoidable-bias",
            f"The model underfits: its {ctx.fitted} error {{e_{ctx.fitted}:.4f}} is not clearly "
            "below the "
            + (row["from"] if row else "baseline")
            + f"'s valid error {ctx.errors[ctx.fitted] - row['value'] if row else math.nan:.4f} "
            "(noise {threshold:.4f}; human-level error unknown: pass --human-error to measure "
            "the avoidable bias itself).",
        )
    return _finding(
        ctx,
        "avoidable-bias",
        f"Avoidable bias {{value:.4f}}: {ctx.fitted} error {{e_{ctx.fitted}:.4f}} vs human-level "
        "{e_human:.4f}.",
    )


def variance(ctx: DiagnosisContext) -> list[Finding]:
    row = ctx.gap("variance")
    where = (
        "train-dev"
        if row and row["to"] == "train_dev"
        else "valid (no train-dev split to separate mismatch)"
    )
    return _finding(
        ctx,
        "variance",
        "Variance {value:.4f}: " + where + " error is {value:.4f} above train error {e_train:.4f}.",
    )


def data_mismatch(ctx: DiagnosisContext) -> list[Finding]:
    return _finding(
        ctx,
        "data-mismatch",
        "Data mismatch {value:.4f}: valid error {e_valid:.4f} vs train-dev error {e_train_dev:.4f}.",
    )


def overfit_to_valid(ctx: DiagnosisContext) -> list[Finding]:
    return _finding(
        ctx,
        "overfit-to-valid",
        "Overfitting to the validation set {value:.4f}: test error {e_test:.4f} vs valid {e_valid:.4f}.",
    )


def test_set_reuse(ctx: DiagnosisContext) -> list[Finding]:
    n = ctx.test_evaluations
    if n < 2:
        return []
    return [
        Finding(
            "test-set-reuse",
            Severity.WARNING,
            f"The test set of this run has been evaluated {n} times: it is being used for tuning, and "
            "its error is no longer an unbiased estimate.",
            {"test_evaluations": n},
            NEXT_STEP["test-set-reuse"],
        )
    ]


def at_human_level(ctx: DiagnosisContext) -> list[Finding]:
    if not ctx.rows or any(r["significant"] for r in ctx.rows):
        return []
    return [
        Finding(
            "at-human-level",
            Severity.INFO,
            "No gap between the errors exceeds their noise: "
            + ", ".join(
                f"{r['gap']} {r['value']:.4f} (noise {r['threshold']:.4f})" for r in ctx.rows
            )
            + ".",
            {"rows": ctx.rows, "errors": ctx.errors},
            NEXT_STEP["at-human-level"],
        )
    ]


CHECKS = (avoidable_bias, variance, data_mismatch, overfit_to_valid, test_set_reuse, at_human_level)


def verdict(ctx: DiagnosisContext) -> str | None:
    """The code of the largest significant gap (what to work on next), else at-human-level."""
    significant = [r for r in ctx.rows if r["significant"]]
    if significant:
        return max(significant, key=lambda r: r["value"])["code"]
    return "at-human-level" if ctx.rows else None
