"""`duplicates` and `split-leakage`: exact and near-identical samples, within and across splits.

Exact copies are found by hashing each sample's bytes. Near copies are found among the distinct
samples by a radius search in a KD-tree over the PCA projection of the signatures (see
`AuditContext.signature`): the projection never lengthens a distance, so every pair within the
radius is a candidate, and each candidate is then confirmed on the full signature. A radius
search with a small radius prunes well, so the cost grows close to N log N.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.findings import Finding, Severity

# Near-duplicate radius on image/signal signatures: distance sqrt(2 (1 - r)) <= 0.08 means a
# correlation r >= 0.9968 between the two samples. Measured: the closest distinct pairs of
# digits are at 0.107 and of MNIST-1D at 0.27, while a copy with Gaussian noise of 5% of the
# pixel spread is at ~0.05 (see tests/audit and bench/audit.py).
NEAR_DISTANCE = 0.08
# Tables: root-mean-square difference of the standardised features, in training standard
# deviations. Measured: the closest distinct rows are at 0.064 (iris), 0.15 (diabetes), 0.19
# (breast_cancer), 0.33 (wine).
TABLE_NEAR_DISTANCE = 0.03
# Within a split: duplicates are a warning from this fraction of redundant samples (and at least
# DUPLICATE_MIN of them), or when copies carry different labels.
DUPLICATE_WARNING = 0.01
DUPLICATE_MIN = 3
# Across splits: leakage is a warning from this fraction of a held-out split (and at least
# LEAK_MIN samples), an error from LEAK_ERROR: the held-out score is then measurably inflated.
LEAK_WARNING = 0.005
LEAK_ERROR = 0.05
LEAK_MIN = 3
# Groups listed in the evidence.
MAX_GROUPS = 50


def _hashes(x: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:
            p[i], i = root, p[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_groups(ctx: AuditContext) -> list[list[tuple[str, int, bool]]]:
    """Groups of two or more samples that are copies of each other, over all splits.

    Each member is ``(split, position, exact)`` where ``exact`` says whether its bytes equal
    those of the group's first member. Cached on the context (duplicates and leakage share it).
    """
    if "groups" in ctx.cache:
        return ctx.cache["groups"]
    from sklearn.neighbors import KDTree

    names = list(ctx.splits)
    owner = [(k, i) for k in names for i in range(len(ctx.splits[k].x))]
    hashes = [h for k in names for h in _hashes(ctx.splits[k].x)]
    first: dict[bytes, int] = {}
    rep_of = np.empty(len(owner), dtype=np.int64)  # sample -> index of its first exact copy
    for i, h in enumerate(hashes):
        rep_of[i] = first.setdefault(h, i)
    uf = _UnionFind(len(owner))
    for i, r in enumerate(rep_of):
        if r != i:
            uf.union(i, int(r))
    reps = np.flatnonzero(rep_of == np.arange(len(owner)))
    radius = TABLE_NEAR_DISTANCE if ctx.data.modality == "tabular" else NEAR_DISTANCE
    proj = np.concatenate([ctx.projected(k) for k in names])[reps]
    full = np.concatenate([ctx.signature(k) for k in names])[reps]
    tree = KDTree(proj, leaf_size=40)
    pairs = 0
    for start in range(0, len(reps), 4096):
        hits = tree.query_radius(proj[start : start + 4096], r=radius)
        for off, nb in enumerate(hits):
            a = start + off
            nb = nb[nb > a]
            if len(nb) == 0:
                continue
            dist = np.linalg.norm(full[nb] - full[a], axis=1)
            for b in nb[dist <= radius]:
                uf.union(int(reps[a]), int(reps[b]))
                pairs += 1
    roots = np.array([uf.find(i) for i in range(len(owner))])
    order = np.argsort(roots, kind="stable")
    sorted_roots = roots[order]
    cut = np.flatnonzero(np.diff(sorted_roots)) + 1
    groups = []
    for members in np.split(order, cut):
        if len(members) < 2:
            continue
        root_rep = rep_of[members[0]]
        groups.append([(owner[m][0], owner[m][1], bool(rep_of[m] == root_rep)) for m in members])
    ctx.cache["groups"] = groups
    ctx.cache["near_pairs"] = pairs
    return groups


def _group_json(ctx: AuditContext, group: list[tuple[str, int, bool]]) -> list[dict[str, Any]]:
    out = []
    for split, pos, exact in group:
        ref = ctx.ref(split, pos)
        ref["exact"] = exact
        if ctx.classification:
            ref["label"] = ctx.class_names[int(ctx.labels(split)[pos])] if ctx.num_classes else None
        out.append(ref)
    return out


def duplicates(ctx: AuditContext) -> list[Finding]:
    """Exact or near-identical samples repeated within a split."""
    findings = []
    for split in ctx.splits:
        groups = [[m for m in g if m[0] == split] for g in near_groups(ctx)]
        groups = [g for g in groups if len(g) >= 2]
        if not groups:
            continue
        n = len(ctx.splits[split].x)
        redundant = sum(len(g) - 1 for g in groups)
        frac = redundant / n
        conflicting = []
        if ctx.classification:
            y = ctx.labels(split)
            conflicting = [g for g in groups if len({int(y[p]) for _, p, _ in g}) > 1]
        exact = sum(all(m[2] for m in g) for g in groups)
        many = frac >= DUPLICATE_WARNING and redundant >= DUPLICATE_MIN
        severity = Severity.WARNING if many or conflicting else Severity.INFO
        extra = f"; {len(conflicting)} group(s) carry conflicting labels" if conflicting else ""
        positions = np.array(sorted(p for g in groups for _, p, _ in g[1:]))
        evidence = {
            "split": split,
            "groups": len(groups),
            "exact_groups": exact,
            "redundant": redundant,
            "fraction": round(frac, 5),
            "conflicting_labels": len(conflicting),
            "group_members": [_group_json(ctx, g) for g in (conflicting + groups)[:MAX_GROUPS]],
            "samples": ctx.samples({split: positions}),
        }
        findings.append(
            Finding(
                "duplicates",
                severity,
                f"The {split} split holds {len(groups)} group(s) of identical or near-identical samples "
                f"({redundant} redundant copies, {frac:.1%} of {n}){extra}.",
                evidence,
                "Keep one sample per group (and fix the label where copies disagree); duplicates "
                "over-weight those samples in training.",
            )
        )
    return findings


def split_leakage(ctx: AuditContext) -> list[Finding]:
    """Exact or near-identical samples shared between splits."""
    groups = near_groups(ctx)
    findings = []
    order = ["train", "valid", "test", "train_dev"]
    present = [s for s in order if s in ctx.splits]
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            if {a, b} == {"train", "train_dev"}:
                continue  # train-dev is carved from train: copies there measure variance only
            shared = [g for g in groups if any(m[0] == a for m in g) and any(m[0] == b for m in g)]
            if not shared:
                continue
            leaked = np.array(sorted({p for g in shared for s, p, _ in g if s == b}))
            n = len(ctx.splits[b].x)
            frac = len(leaked) / n
            exact = sum(1 for g in shared if all(m[2] for m in g))
            if frac >= LEAK_ERROR and len(leaked) >= LEAK_MIN:
                severity = Severity.ERROR
            elif frac >= LEAK_WARNING and len(leaked) >= LEAK_MIN:
                severity = Severity.WARNING
            else:
                severity = Severity.INFO
            pairs = [
                _group_json(ctx, [m for m in g if m[0] in (a, b)]) for g in shared[:MAX_GROUPS]
            ]
            source = np.array(sorted({p for g in shared for s, p, _ in g if s == a}))
            findings.append(
                Finding(
                    "split-leakage",
                    severity,
                    f"{len(leaked)} of {n} {b} samples ({frac:.1%}) have an identical or near-identical "
                    f"copy in {a} ({exact} exact group(s)): the {b} score is inflated by memorisation.",
                    {
                        "splits": [a, b],
                        "leaked": len(leaked),
                        "fraction": round(frac, 5),
                        "exact_groups": exact,
                        "groups": pairs,
                        "samples": ctx.samples({a: source, b: leaked}),
                    },
                    f"Remove the leaked samples from {b} (or deduplicate before splitting, grouping "
                    "near-copies so that each group lands in one split).",
                )
            )
    return findings
