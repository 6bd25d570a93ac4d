"""Ratings audits (the ratings task only): `cold-start`, `duplicate-pair`, `rating-activity`."""

from __future__ import annotations

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.findings import Finding, Severity

# Held-out ratings whose user or item never appears in train: a warning from this fraction (the
# model can only give them the mean plus the other side's bias).
COLD_WARNING = 0.05
# One user (item) holding this fraction of all training ratings dominates the loss.
DOMINANT = 0.05


def _pairs(ctx: AuditContext, split: str) -> np.ndarray:
    x = ctx.splits[split].x  # (N, 2): user, item indices (0: unseen in train)
    return x[:, :2].astype(np.int64)


def cold_start(ctx: AuditContext) -> list[Finding]:
    """Users and items of the held-out splits that never appear in train."""
    findings = []
    for split in ctx.heldout:
        p = _pairs(ctx, split)
        users, items = int((p[:, 0] == 0).sum()), int((p[:, 1] == 0).sum())
        either = int(((p[:, 0] == 0) | (p[:, 1] == 0)).sum())
        if not either:
            continue
        frac = either / len(p)
        findings.append(
            Finding(
                "cold-start",
                Severity.WARNING if frac >= COLD_WARNING else Severity.INFO,
                f"{either} of {len(p)} {split} ratings ({frac:.1%}) have a user ({users}) or an "
                f"item ({items}) that never appears in train: the model can only predict the "
                "mean plus the known side's bias for them.",
                {"split": split, "ratings": either, "users": users, "items": items},
                "Expected for new users and items; to measure warm-start quality, split by user "
                "(split='user') so every user is in train.",
            )
        )
    return findings


def duplicate_pair(ctx: AuditContext) -> list[Finding]:
    """The same (user, item) pair rated more than once, within or across splits."""
    meta = ctx.data.meta.get("ratings") or {}
    within = int(meta.get("duplicate_pairs") or 0)
    train = {tuple(r) for r in _pairs(ctx, "train")}
    across = {
        s: int(sum(1 for r in _pairs(ctx, s) if r[0] and r[1] and tuple(r) in train))
        for s in ctx.heldout
    }
    across = {k: v for k, v in across.items() if v}
    if not within and not across:
        return []
    where = ", ".join(f"{v} {k} ratings" for k, v in across.items())
    return [
        Finding(
            "duplicate-pair",
            Severity.WARNING,
            f"{within} ratings repeat a (user, item) pair already rated"
            + (f"; {where} rate a pair that train rates too" if across else "")
            + ".",
            {"repeated": within, "across_splits": across},
            "Keep one rating per pair (the latest), or split by time; a held-out pair rated in "
            "train measures memory, not prediction.",
        )
    ]


def rating_activity(ctx: AuditContext) -> list[Finding]:
    """The rating distribution and very active users / very popular items."""
    p = _pairs(ctx, "train")
    y = ctx.splits["train"].y.reshape(-1)
    users, items = np.bincount(p[:, 0]), np.bincount(p[:, 1])
    top_u, top_i = int(users.argmax()), int(items.argmax())
    share_u, share_i = users.max() / len(p), items.max() / len(p)
    values, counts = np.unique(y, return_counts=True)
    evidence = {
        "ratings_per_user": {
            "median": float(np.median(users[1:][users[1:] > 0])),
            "max": int(users.max()),
        },
        "ratings_per_item": {
            "median": float(np.median(items[1:][items[1:] > 0])),
            "max": int(items.max()),
        },
        "distribution": {f"{v:g}": int(c) for v, c in zip(values[:20], counts[:20], strict=False)},
    }
    if max(share_u, share_i) < DOMINANT:
        ctx.cache["rating_activity"] = evidence
        return []
    who = f"user #{top_u}" if share_u >= share_i else f"item #{top_i}"
    return [
        Finding(
            "rating-activity",
            Severity.INFO,
            f"One {who.split()[0]} ({who}) holds {max(share_u, share_i):.1%} of the training "
            "ratings: its ratings weigh that much in the loss.",
            evidence,
            "Fine if real; if it is a bot or a test account, drop it, or cap ratings per user.",
        )
    ]


def rating_range(ctx: AuditContext) -> list[Finding]:
    """Ratings the model cannot output: outside the task's `y_range`."""
    lo, hi = getattr(ctx.data.task, "y_range", (-np.inf, np.inf))
    out = {}
    for split, s in ctx.splits.items():
        y = s.y.reshape(-1)
        n = int(((y <= lo) | (y >= hi)).sum())
        if n:
            out[split] = {"count": n, "min": float(y.min()), "max": float(y.max())}
    if not out:
        return []
    worst = max(out.values(), key=lambda v: v["count"])
    return [
        Finding(
            "rating-range",
            Severity.ERROR,
            f"{sum(v['count'] for v in out.values())} ratings lie at or outside the model's "
            f"y_range ({lo:g}, {hi:g}) (they range {worst['min']:g}..{worst['max']:g}): a "
            "sigmoid squashed into y_range can never output them.",
            {"y_range": [lo, hi], "splits": out},
            "Set y_range slightly wider than the ratings (or leave it unset to infer it), or "
            "rescale the ratings.",
        )
    ]
