"""Checks of a finished search: one function per finding code."""

from __future__ import annotations

import math
from typing import Any

from nnrecipe.findings import Finding, Severity

# A log-range knob is "at the edge" within this factor of a bound (a linear one within 5% of the
# range): TPE rarely samples exactly on a bound, so near it counts.
LOG_EDGE_FACTOR, LINEAR_EDGE_FRACTION = 1.25, 0.05


def no_feasible_trial(result: Any, study: Any) -> list[Finding]:
    if result.best_trial is not None:
        return []
    return [
        Finding(
            "no-feasible-trial",
            Severity.ERROR,
            f"None of the {len(result.trials)} trials finished within the constraints "
            f"({result.counts}).",
            {
                "counts": result.counts,
                "infeasible": [
                    t["number"] for t in result.trials if t.get("infeasible") or not t["feasible"]
                ],
            },
            "Loosen the constraints (--max-params, --max-latency-ms) or search smaller models.",
        )
    ]


def best_at_range_edge(result: Any, study: Any) -> list[Finding]:
    from optuna.distributions import FloatDistribution, IntDistribution

    if result.best_trial is None:
        return []
    best = study.trials[result.best_trial]
    if len([t for t in result.trials if t["state"] == "complete"]) < 8:
        return []  # too few trials to say where the optimum lies
    out = []
    for name, dist in best.distributions.items():
        if not isinstance(dist, FloatDistribution | IntDistribution) or dist.low == dist.high:
            continue
        v = best.params[name]
        if dist.log:
            near = (
                math.log(v / dist.low) < math.log(LOG_EDGE_FACTOR),
                math.log(dist.high / v) < math.log(LOG_EDGE_FACTOR),
            )
        else:
            span = dist.high - dist.low
            near = (
                v - dist.low <= LINEAR_EDGE_FRACTION * span,
                dist.high - v <= LINEAR_EDGE_FRACTION * span,
            )
        # Zero dropout / augmentation / weight decay at the lower edge is a valid answer ("none").
        if near[0] and name not in ("dropout", "augment", "weight_decay", "depth"):
            out.append((name, v, "low", dist.low))
        if near[1]:
            out.append((name, v, "high", dist.high))
    return [
        Finding(
            "best-at-range-edge",
            Severity.INFO,
            f"The best trial's {name} = {v:.3g} is at the {side} edge of its range ({bound:.3g}).",
            {"knob": name, "value": v, "edge": side, "bound": bound},
            f"Widen the range of {name} beyond {bound:.3g} and tune again.",
        )
        for name, v, side, bound in out
    ]


def trials_failed(result: Any, study: Any) -> list[Finding]:
    failed = [
        t
        for t in result.trials
        if t["state"] == "fail" and not t.get("surplus") and not t.get("interrupted")
    ]
    if not failed:
        return []
    return [
        Finding(
            "trials-failed",
            Severity.WARNING,
            f"{len(failed)} trial(s) crashed (numbers {', '.join(str(t['number']) for t in failed[:10])}).",
            {"trials": [t["number"] for t in failed]},
            "Rerun a failed trial's settings with --debug to see the error, fix it, and resume.",
        )
    ]


CHECKS = (no_feasible_trial, best_at_range_edge, trials_failed)


def run_checks(result: Any, study: Any) -> list[Finding]:
    return [f for check in CHECKS for f in check(result, study)]
