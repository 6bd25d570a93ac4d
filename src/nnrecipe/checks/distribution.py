"""Checks of the distribution task (`--task distribution`): one function per finding code.

Each reads the check `Context` (the loss at init against the climatology is the generic
`loss-at-init`, through the task's `prior_output`). The codes are restricted to the task
(``Code(..., tasks=("distribution",))``), so other tasks skip them.
"""

from __future__ import annotations

from typing import Any

import torch

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context
from nnrecipe.checks.task_codes import DISTRIBUTION_CODES as CODES  # noqa: F401
from nnrecipe.findings import Finding, Severity

TASKS = ("distribution",)
TRAIN_STEPS = 60  # a short training of a copy: enough for a collapsing scale to show
# scale-collapse: median sigma / median held-out absolute error, measured for the built-in
# Gaussian head 1.10 at init and 2.10 after 60 steps on hetero (1.29 / 0.83 on diabetes); a
# log-scale output shifted by -12 (tests/zoo/distribution.py) 0.0 / 0.0001. Error below 0.05.
COLLAPSE_RATIO = 0.05
NOT_MONOTONE_TOL = 1e-5
REACH_ONE = 0.98  # the CDF at the last edge must reach this on average


def _finding(code: str, severity: str, message: str, evidence: dict[str, Any]) -> Finding:
    from nnrecipe.checks.context import _jsonable

    return Finding(code, Severity(severity), message, _jsonable(evidence), CODES[code].fix)


def _trained(ctx: Context) -> dict[str, Any]:
    """Held-out outputs at init and after TRAIN_STEPS steps of the user's optimizer."""

    def run(ctx: Context) -> dict[str, Any]:
        m = probes.trained_copy(ctx, TRAIN_STEPS)
        xv = ctx.xv.to(ctx.device)
        with torch.no_grad():
            after = ctx.forward(m, xv).float().cpu()
            before = ctx.forward(ctx.fresh().eval(), xv).float().cpu()
        return {"init": before, "trained": after, "y": ctx.yv.float().reshape(-1).cpu()}

    return probes.cached(ctx, "distribution-trained", run)


def cdf_not_monotone(ctx: Context) -> list[Finding]:
    """The CDF read from the outputs, at init and after a short training, must rise to 1."""
    probe = _trained(ctx)
    for when in ("init", "trained"):
        cdf = ctx.task.cdf(probe[when])  # type: ignore[attr-defined]
        drops = (cdf[:, 1:] - cdf[:, :-1]) < -NOT_MONOTONE_TOL
        rows = drops.any(1)
        end = float(cdf[:, -1].mean())
        ev = {
            "when": when,
            "rows_not_monotone": float(rows.float().mean()),
            "largest_drop": float((cdf[:, :-1] - cdf[:, 1:]).clamp_min(0).max()),
            "mean_cdf_at_last_edge": end,
        }
        where = "at init" if when == "init" else f"after {TRAIN_STEPS} training steps"
        if bool(rows.any()):
            return [
                _finding(
                    "cdf-not-monotone",
                    "error",
                    f"The predicted CDF decreases {where} in {ev['rows_not_monotone']:.0%} of "
                    f"the held-out samples (largest drop {ev['largest_drop']:.3f}): it is not "
                    "a distribution.",
                    ev,
                )
            ]
        if end < REACH_ONE:
            return [
                _finding(
                    "cdf-not-monotone",
                    "error",
                    f"The predicted CDF ends at {end:.3f} on average {where}, not 1: the rest "
                    "of the probability is beyond the last bin.",
                    ev,
                )
            ]
    return []


def bins_miss_targets(ctx: Context) -> list[Finding]:
    """Training and held-out targets must fall between the first and the last bin edge."""
    edges = ctx.task.edges  # type: ignore[attr-defined]
    lo, hi = float(edges[0]), float(edges[-1])
    shares = {}
    for name, y in (("train", ctx.y), ("held-out", ctx.yv)):
        y = y.float().reshape(-1).cpu()
        shares[name] = float(((y < lo) | (y > hi)).float().mean())
    if max(shares.values()) == 0:
        return []
    ev = {"range": [lo, hi], "outside": shares}
    severity = "error" if shares["train"] > 0.01 else "warning"
    return [
        _finding(
            "bins-miss-targets",
            severity,
            f"{shares['train']:.1%} of the training and {shares['held-out']:.1%} of the held-out "
            f"targets fall outside the bins [{lo:.4g}, {hi:.4g}]: the model cannot predict them.",
            ev,
        )
    ]


def scale_collapse(ctx: Context) -> list[Finding]:
    """The Gaussian head's scale vs the errors it makes, at init and after a short training."""
    probe = _trained(ctx)
    y = probe["y"]
    for when in ("init", "trained"):
        mu, sigma = ctx.task._gaussian(probe[when])  # type: ignore[attr-defined]
        err = float((mu - y).abs().median())
        ratio = float(sigma.median()) / max(err, 1e-12)
        if ratio < COLLAPSE_RATIO:
            where = "at init" if when == "init" else f"after {TRAIN_STEPS} training steps"
            return [
                _finding(
                    "scale-collapse",
                    "error",
                    f"The predicted scale {where} is {float(sigma.median()):.3g} (median), "
                    f"{ratio:.3f}x the median absolute error {err:.3g}: the intervals are "
                    "far too narrow.",
                    {"when": when, "median_sigma": float(sigma.median()), "median_error": err},
                )
            ]
    return []


CHECKS = [bins_miss_targets, cdf_not_monotone, scale_collapse]
