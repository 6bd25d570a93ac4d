"""`duplicates` and `split-leakage`: exact and near-identical samples, within and across splits.

Exact copies are found by hashing each sample's bytes. Near copies are found among the distinct
samples by locality-sensitive hashing of the PCA projection of their signatures (see
`AuditContext.signature`), and each candidate pair is confirmed on the full signature, so a
reported copy is always within the radius. The cost grows linearly with the number of samples.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext, intrinsic_dimension
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
# ... and at most this fraction of the median nearest-neighbour distance between distinct rows:
# in a table of few continuous columns, rows are naturally close (2 columns, 300 rows: the median
# neighbour is ~0.05 away), and a near copy must stand out from that. For points spread in d
# dimensions, the chance that a row's neighbour is within this fraction is ~0.7 * 0.05^d (0.2% of
# rows for d = 2, under 0.01% for d >= 3).
TABLE_NEAR_FRACTION = 0.05
# In fewer dimensions the chance is higher (3.4% of rows in 1-D), so the fraction also shrinks to
# keep the chance of a row having a neighbour within it below TABLE_CHANCE, given the table's
# intrinsic dimension d (fraction <= (TABLE_CHANCE / ln 2) ^ (1 / d)): in 1-D only exact copies
# are reported.
TABLE_CHANCE = 0.001
# Rows sampled to measure that median and the intrinsic dimension.
TABLE_NN_SAMPLE = 1000
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
# Near-copy candidates come from locality-sensitive hashing (E2LSH, Datar et al. 2004) of the
# PCA projection: each of LSH_TABLES tables hashes a sample by LSH_PROJECTIONS random projections
# cut into bins of LSH_WIDTH radii. Two samples at the radius collide in one projection with
# probability 0.80, in one table with 0.80^8 = 0.17, in at least one of 32 tables with 0.996;
# a noisy copy (its difference spread over all pixels, mostly outside the projection) collides
# almost surely. Two distinct samples at the typical nearest-neighbour distance (7x the radius)
# collide in a table with probability 4e-6. Every candidate is confirmed on the full signature.
# (An exact KD-tree radius search grew 3.3x per doubling at 20k-80k images: high intrinsic
# dimension defeats space partitioning.)
LSH_TABLES = 32
LSH_PROJECTIONS = 8
LSH_WIDTH = 4.0
# Buckets larger than this link each member to a few neighbours rather than to every member.
MAX_BUCKET = 200


def _hashes(x: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]


def _lsh_candidates(
    points: np.ndarray, radius: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) of rows that share a bucket in at least one LSH table."""
    n, d = points.shape
    rng = np.random.default_rng(seed + 5)
    width = LSH_WIDTH * radius
    pairs = []
    for _ in range(LSH_TABLES):
        proj = rng.standard_normal((d, LSH_PROJECTIONS)).astype(np.float32)
        bins = np.floor((points @ proj) / width + rng.uniform(0, 1, LSH_PROJECTIONS)).astype(
            np.int64
        )
        # one 64-bit key per row (collisions of the key only add candidates, later rejected)
        key = bins @ rng.integers(1, 2**31, LSH_PROJECTIONS, dtype=np.int64)
        order = np.argsort(key, kind="stable")
        k_sorted = key[order]
        starts = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for size in np.unique(sizes[sizes >= 2]):
            firsts = starts[sizes == size]
            members = order[firsts[:, None] + np.arange(size)]  # (runs, size)
            if size > MAX_BUCKET:
                # a crowd of near-identical samples: link each to its next few along one
                # projection instead of all pairs (bounded work; the crowd still ends in one group)
                for run in members:
                    run = run[np.argsort(points[run, 0])]
                    for step in range(1, 9):
                        pairs.append(np.stack([run[:-step], run[step:]], axis=1))
                continue
            i, j = np.triu_indices(size, k=1)
            pairs.append(np.stack([members[:, i].ravel(), members[:, j].ravel()], axis=1))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    both = np.concatenate(pairs)
    both = np.unique(np.sort(both, axis=1), axis=0)
    return both[:, 0], both[:, 1]


def _median_nn(rows: np.ndarray, seed: int) -> tuple[float, float]:
    """Median distance from a sample of distinct rows to their nearest other row, and the
    rows' intrinsic dimension."""
    from sklearn.neighbors import NearestNeighbors

    if len(rows) < 8:
        return float("inf"), float("inf")
    rng = np.random.default_rng(seed + 6)
    queries = rows
    if len(rows) > TABLE_NN_SAMPLE:
        queries = rows[rng.choice(len(rows), TABLE_NN_SAMPLE, replace=False)]
    nn = NearestNeighbors(n_neighbors=7, algorithm="brute").fit(rows)
    dist, _ = nn.kneighbors(queries)
    return float(np.median(dist[:, 1])), intrinsic_dimension(dist[:, 1:])


def near_groups(ctx: AuditContext) -> list[list[tuple[str, int, bool]]]:
    """Groups of two or more samples that are copies of each other, over all splits.

    Each member is ``(split, position, exact)`` where ``exact`` says whether its bytes equal
    those of the group's first member. Cached on the context (duplicates and leakage share it).
    """
    if "groups" in ctx.cache:
        return ctx.cache["groups"]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    names = list(ctx.splits)
    sizes = [len(ctx.splits[k].x) for k in names]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])
    first: dict[bytes, int] = {}
    rep_of = np.array(
        [
            first.setdefault(h, i)
            for i, h in enumerate(h for k in names for h in _hashes(ctx.splits[k].x))
        ],
        dtype=np.int64,
    )
    reps = np.flatnonzero(rep_of == np.arange(n))  # one sample per set of exact copies
    proj = np.concatenate([ctx.projected(k) for k in names])[reps]
    radius = NEAR_DISTANCE
    if ctx.data.modality == "tabular":
        median, dim = _median_nn(proj, ctx.seed)
        fraction = min(TABLE_NEAR_FRACTION, (TABLE_CHANCE / np.log(2)) ** (1 / dim))
        radius = min(TABLE_NEAR_DISTANCE, fraction * median)
        ctx.cache["intrinsic_dimension"] = dim
    ctx.cache["copy_radius"] = radius
    a, b = _lsh_candidates(proj, radius, seed=ctx.seed)
    if ctx.data.modality != "tabular":
        # constant images/signals have no shape to compare (their signature is zero): they are
        # reported as empty samples, and as copies only when their bytes are equal
        flat = np.concatenate(
            [
                (ctx.signature(k).max(axis=1) == 0) & (ctx.signature(k).min(axis=1) == 0)
                for k in names
            ]
        )[reps]
        keep = ~(flat[a] | flat[b])
        a, b = a[keep], b[keep]
    # confirm: first on the projection (never longer than the full distance), then in full
    close = np.linalg.norm(proj[a] - proj[b], axis=1) <= radius
    a, b = a[close], b[close]
    signature = {k: ctx.signature(k) for k in names}
    where = np.searchsorted(offsets, reps, side="right") - 1  # rep -> split number

    def rows_of(ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(ids), signature[names[0]].shape[1]), dtype=np.float32)
        for s_no, name in enumerate(names):
            mask = where[ids] == s_no
            out[mask] = signature[name][reps[ids[mask]] - offsets[s_no]]
        return out

    confirmed = np.zeros(len(a), dtype=bool)
    for start in range(0, len(a), 4096):
        ia, ib = a[start : start + 4096], b[start : start + 4096]
        confirmed[start : start + 4096] = (
            np.linalg.norm(rows_of(ia) - rows_of(ib), axis=1) <= radius
        )
    rows = np.concatenate([np.arange(n), reps[a[confirmed]]])
    cols = np.concatenate([rep_of, reps[b[confirmed]]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    counts = np.bincount(label)
    in_group = np.flatnonzero(counts[label] >= 2)
    groups = []
    order = in_group[np.argsort(label[in_group], kind="stable")]
    for members in np.split(order, np.flatnonzero(np.diff(label[order])) + 1):
        if len(members) < 2:
            continue
        split_no = np.searchsorted(offsets, members, side="right") - 1
        root = rep_of[members[0]]
        groups.append(
            [
                (names[s], int(m - offsets[s]), bool(rep_of[m] == root))
                for s, m in zip(split_no, members, strict=True)
            ]
        )
    ctx.cache["groups"] = groups
    ctx.cache["near_pairs"] = int(confirmed.sum())
    return groups


def _group_json(ctx: AuditContext, group: list[tuple[str, int, bool]]) -> list[dict[str, Any]]:
    out = []
    for split, pos, exact in group:
        ref = ctx.ref(split, pos)
        ref["exact"] = exact
        if ctx.has_labels:
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
        if ctx.has_labels:
            y = ctx.labels(split)
            conflicting = [g for g in groups if len({int(y[p]) for _, p, _ in g}) > 1]
        # copies that contradict each other are a labelling error; in a table, near (not exact)
        # rows with different labels can be honest neighbours across a class boundary
        contradictions = [
            g for g in conflicting if ctx.data.modality != "tabular" or all(m[2] for m in g)
        ]
        exact = sum(all(m[2] for m in g) for g in groups)
        many = frac >= DUPLICATE_WARNING and redundant >= DUPLICATE_MIN
        severity = Severity.WARNING if many or contradictions else Severity.INFO
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
