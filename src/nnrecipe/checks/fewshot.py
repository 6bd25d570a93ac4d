"""Checks of the few-shot task (`--task few-shot`): one function per finding code, restricted
to the task (``Code(..., tasks=("few-shot",))``). Batch dependency is the generic check."""

from __future__ import annotations

from typing import Any

import torch

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context, _jsonable
from nnrecipe.checks.task_codes import FEWSHOT_CODES as CODES  # noqa: F401
from nnrecipe.findings import Finding, Severity

TASKS = ("few-shot",)
TRAIN_STEPS = 60
# embeddings-collapse: mean distance between unit embeddings of different held-out samples,
# measured for the built-in embedding nets 0.196 at init / 0.215 after 60 steps (digits) and
# 0.326 / 0.206 (mnist1d); a ReLU after a -50 bias (tests/zoo/fewshot.py) 0.0. Error below 0.01.
COLLAPSE_DISTANCE = 0.01
TINY_NORM = 1e-6  # raw embeddings this short are all noise once normalised
# margin-never-active: share of negative pairs inside the margin, measured on digits 0.9996 at
# init and 0.62 after 60 steps with the default 0.5; 0.0 and 0.0 with a margin of 0.001.
ACTIVE_SHARE = 0.001


def _finding(code: str, severity: str, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding(code, Severity(severity), message, _jsonable(evidence), CODES[code].fix)


def _trained(ctx: Context) -> dict[str, Any]:
    """Embeddings of the held-out sample at init and after TRAIN_STEPS optimizer steps."""

    def run(ctx: Context) -> dict[str, Any]:
        m = probes.trained_copy(ctx, TRAIN_STEPS)
        xv = ctx.xv[:512].to(ctx.device)
        x = ctx.x[:512].to(ctx.device)
        with torch.no_grad():
            fresh = ctx.fresh().eval()
            return {
                "init": ctx.forward(fresh, xv).float().cpu(),
                "trained": ctx.forward(m, xv).float().cpu(),
                "init_train": ctx.forward(fresh, x).float().cpu(),
                "trained_train": ctx.forward(m, x).float().cpu(),
                "y_train": ctx.y[:512].cpu(),
            }

    return probes.cached(ctx, "fewshot-trained", run)


def _mean_distance(out: torch.Tensor) -> float:
    from nnrecipe.tasks.fewshot import _pair_distances

    d = _pair_distances(out)
    return float(d.sum() / max(1, d.numel() - len(d)))


def embeddings_collapse(ctx: Context) -> list[Finding]:
    """Mean distance between unit embeddings of different held-out samples, and raw norms."""
    probe = _trained(ctx)
    for when in ("init", "trained"):
        out = probe[when].reshape(len(probe[when]), -1)
        norm = float(out.norm(dim=1).median())
        dist = _mean_distance(out)
        if dist < COLLAPSE_DISTANCE or norm < TINY_NORM:
            where = "at init" if when == "init" else f"after {TRAIN_STEPS} training steps"
            return [
                _finding(
                    "embeddings-collapse",
                    "error",
                    f"The embeddings collapse {where}: unit embeddings of different samples "
                    f"are {dist:.3g} apart on average (median raw length {norm:.3g}).",
                    {"when": when, "mean_distance": dist, "median_norm": norm},
                )
            ]
    return []


def margin_never_active(ctx: Context) -> list[Finding]:
    """Share of negative pairs inside the margin (contrastive) or of violating triplets."""
    from nnrecipe.tasks.fewshot import _pair_distances

    probe = _trained(ctx)
    task = ctx.task
    y = probe["y_train"].reshape(-1)
    shares = {}
    for when in ("init_train", "trained_train"):
        if task.loss == "triplet":  # type: ignore[attr-defined]
            per = task.per_sample_loss(probe[when], y)
            shares[when] = float((per > 0).float().mean())
        else:
            d = _pair_distances(probe[when])
            neg = y[:, None] != y[None]
            inside = (d < task.margin) & neg  # type: ignore[attr-defined]
            shares[when] = float(inside.sum() / neg.sum().clamp_min(1))
    if max(shares.values()) > ACTIVE_SHARE:
        return []
    what = "triplets violate" if task.loss == "triplet" else "negative pairs are inside"  # type: ignore[attr-defined]
    return [
        _finding(
            "margin-never-active",
            "error",
            f"No {what.split()[0]} {' '.join(what.split()[1:])} the margin "
            f"{task.margin:g} at init nor after {TRAIN_STEPS} steps: the negative term of the "  # type: ignore[attr-defined]
            "loss never acts.",
            {"margin": task.margin, "active_share": shares},  # type: ignore[attr-defined]
        )
    ]


def pairs_one_sided(ctx: Context) -> list[Finding]:
    """Share of positive pairs in the training batches the check draws."""
    shares = []
    for i in range(4):
        _, yb = ctx.batch(i)
        y = yb.reshape(-1)
        same = (y[:, None] == y[None]).float()
        n = len(y)
        shares.append(float((same.sum() - n) / max(1, n * (n - 1))))
    share = sum(shares) / len(shares)
    if 0 < share < 1:
        return []
    kind = "positive (one class)" if share >= 1 else "negative (no two samples share a class)"
    return [
        _finding(
            "pairs-one-sided",
            "error",
            f"Every pair in the training batches is {kind}: the loss has nothing to contrast.",
            {"positive_share": share, "batch": len(y)},
        )
    ]


CHECKS = [pairs_one_sided, embeddings_collapse, margin_never_active]
