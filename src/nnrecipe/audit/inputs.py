"""Checks on the inputs themselves: `non-finite`, `constant-feature`, `corrupt-sample`, `outliers`."""

from __future__ import annotations

import numpy as np

from nnrecipe.audit.context import AuditContext, intrinsic_dimension
from nnrecipe.findings import Finding, Severity

# Outliers: a sample's score is its mean distance to its OUTLIER_K nearest training samples
# (among at most OUTLIER_REFERENCE of them), divided by the median training score. Measured on
# clean sets, the largest ratios are 1.85 (digits), 1.6 (mnist1d), 2.2 (wine), 1.9 (diabetes),
# 3.4 (iris) and 6.4 (breast_cancer, whose features are heavy-tailed: 4 of 569 rows >= 4, 1 >= 6;
# its adaptive threshold below is 7.0).
OUTLIER_K = 5
OUTLIER_REFERENCE = 4000
OUTLIER_RATIO = {"image": 4.0, "sequence": 4.0, "tabular": 6.0}
# In data of few dimensions nearest-neighbour distances spread widely (1-D Gaussian tails sit
# 10x farther out than the centre), so the threshold also adapts: it is at least this many robust
# standard deviations above the median of log(score) over train.
OUTLIER_SIGMAS = 6.0
# ... and the score raised to the intrinsic dimension d (a ratio of densities) must reach
# OUTLIER_DENSITY: in 1-D a sample must be 10^4x farther out than typical, in 2-D 100x, in 8-D 3.2x
# (there the modality's floor rules).
OUTLIER_DENSITY = 1e4
# Outliers are a warning from this fraction of a split and OUTLIER_MIN samples (a few far
# samples are normal: info).
OUTLIER_WARNING = 0.01
OUTLIER_MIN = 3
# Samples whose every channel is one value ("empty" rows, black images) need this many values.
EMPTY_MIN_VALUES = 4
# Image files whose header is read for size and mode (a header read is ~0.1 ms; beyond this many
# files, an evenly spaced sample is read).
MAX_HEADERS = 20_000
# An image is distorted by the resize when its aspect ratio differs from the target's by this
# factor, or blown up when a side is below this fraction of the target's.
ASPECT_FACTOR = 1.5
UPSCALE_FRACTION = 0.5


def non_finite(ctx: AuditContext) -> list[Finding]:
    """NaN or Inf in the inputs or targets of any split."""
    bad_x = {k: np.flatnonzero(m) for k, m in ctx.nonfinite.items() if m.any()}
    bad_y = {}
    for k, s in ctx.splits.items():
        if np.issubdtype(s.y.dtype, np.floating):
            m = ~np.isfinite(s.y.reshape(len(s.y), -1)).all(axis=1)
            if m.any():
                bad_y[k] = np.flatnonzero(m)
    findings = []
    for what, bad in (("inputs", bad_x), ("targets", bad_y)):
        if not bad:
            continue
        total = sum(len(v) for v in bad.values())
        where = ", ".join(f"{len(v)} in {k}" for k, v in bad.items())
        first = next(iter(bad.items()))
        findings.append(
            Finding(
                "non-finite",
                Severity.ERROR,
                f"{total} samples have NaN or Inf {what} ({where}; first: {first[0]} sample "
                f"{ctx.ref(first[0], int(first[1][0]))['index']}).",
                {"where": what, "samples": ctx.samples(bad)},
                "Drop those samples or fill the missing values (e.g. the training median) before "
                "training: one NaN input makes the loss NaN.",
            )
        )
    return findings


def _describe_positions(ctx: AuditContext, cols: np.ndarray) -> list[str]:
    shape = ctx.data.input_shape
    if ctx.data.modality == "tabular":
        names = ctx.data.feature_names or [f"feature {i}" for i in range(shape[0])]
        return [names[c] for c in cols]
    return ["(" + ", ".join(map(str, np.unravel_index(int(c), shape))) + ")" for c in cols]


def constant_feature(ctx: AuditContext) -> list[Finding]:
    """Features (table columns), channels or pixel/time positions with no variance in train."""
    x = ctx.splits["train"].x
    if len(x) < 2:
        return []
    const = np.flatnonzero(x.min(axis=0) == x.max(axis=0))
    names = ctx.data.feature_names
    if ctx.data.modality == "tabular" and names:
        # from_csv adds a missing-value indicator per numeric column: constant when nothing is
        # missing, by construction, so it is not a finding.
        const = np.array([c for c in const if not names[c].endswith("__missing")], dtype=np.int64)
    if len(const) == 0:
        return []
    d = x.shape[1]
    varying_elsewhere = [
        k for k, s in ctx.splits.items() if k != "train" and (s.x[:, const].std(axis=0) > 0).any()
    ]
    evidence = {
        "constant": len(const),
        "of": d,
        "positions": _describe_positions(ctx, const[:50]),
        "values": x[0, const[:50]].round(6).tolist(),
        "varying_in": varying_elsewhere,
    }
    fix = (
        "Drop the constant columns, or check the pipeline that produced them (a failed join, a "
        "default value everywhere)."
    )
    if len(const) == d:
        severity, what = (
            Severity.ERROR,
            "every input feature is constant: there is nothing to learn",
        )
        fix = "Check the data loading: all training inputs are identical."
    elif ctx.data.modality == "tabular":
        severity, what = Severity.WARNING, f"{len(const)} of {d} columns are constant in train"
    else:
        shape = ctx.data.input_shape
        per_channel = x.reshape(len(x), shape[0], -1)
        dead = [c for c in range(shape[0]) if per_channel[:, c].min() == per_channel[:, c].max()]
        evidence["constant_channels"] = dead
        if dead:
            severity, what = (
                Severity.WARNING,
                f"channel(s) {dead} are constant in every training sample",
            )
            fix = "Drop the constant channel(s) or check how the images/signals were converted."
        else:
            # Constant border pixels (MNIST, digits) are normal: convolutions ignore them.
            severity = Severity.INFO
            what = f"{len(const)} of {d} pixel/time positions are constant in train"
            fix = "Nothing to do for convolutional models; a linear model or MLP can drop them."
    if varying_elsewhere:
        what += f" (but vary in {', '.join(varying_elsewhere)})"
    return [Finding("constant-feature", severity, what[0].upper() + what[1:] + ".", evidence, fix)]


def corrupt_sample(ctx: AuditContext) -> list[Finding]:
    """Unreadable files skipped while loading, and empty samples (every channel one value)."""
    findings = []
    corrupt = list(ctx.data.meta.get("corrupt_files") or [])
    if corrupt:
        shown = ", ".join(repr(f) for f in corrupt[:5]) + (" ..." if len(corrupt) > 5 else "")
        findings.append(
            Finding(
                "corrupt-sample",
                Severity.ERROR,
                f"{len(corrupt)} file(s) could not be read as images and were skipped: {shown}.",
                {"files": corrupt[:1000], "count": len(corrupt)},
                "Delete or replace the unreadable files (open them to check: truncated downloads and "
                "files that are not images are common), then rerun.",
            )
        )
    odd = _odd_files(ctx)
    if odd is not None:
        findings.append(odd)
    shape = ctx.data.input_shape
    channels = shape[0] if ctx.data.modality != "tabular" else 1
    empty = {}
    for k, s in ctx.splits.items():
        if s.x.shape[1] < EMPTY_MIN_VALUES * channels:
            continue
        per = s.x.reshape(len(s.x), channels, -1)
        mask = (per.max(axis=2) == per.min(axis=2)).all(axis=1) & ~ctx.nonfinite[k]
        if mask.any():
            empty[k] = np.flatnonzero(mask)
    if empty:
        total = sum(len(v) for v in empty.values())
        where = ", ".join(f"{len(v)} in {k}" for k, v in empty.items())
        findings.append(
            Finding(
                "corrupt-sample",
                Severity.WARNING,
                f"{total} samples are empty (every value the same: blank images, flat signals, "
                f"empty rows): {where}.",
                {"empty": ctx.samples(empty)},
                "Look at those samples: remove blank ones, or fix the export that produced them.",
            )
        )
    return findings


def file_headers(ctx: AuditContext) -> list[tuple[str, int, int, tuple[int, int], str]]:
    """(split, position, file index, (width, height), mode) of the image files, from headers."""
    if "headers" in ctx.cache:
        return ctx.cache["headers"]
    from PIL import Image

    listed = [(k, p) for k, s in ctx.splits.items() if s.files for p in range(len(s.files))]
    step = max(1, len(listed) // MAX_HEADERS)
    out = []
    for k, p in listed[::step]:
        try:
            with Image.open(ctx.splits[k].files[p]) as im:  # type: ignore[index]
                out.append((k, p, int(ctx.splits[k].source_index[p]), im.size, im.mode))
        except Exception:  # unreadable now: the loader read it, so the file changed since
            continue
    ctx.cache["headers"] = out
    return out


def _odd_files(ctx: AuditContext) -> Finding | None:
    """Images whose mode differs from the majority, or that the resize distorts or blows up."""
    headers = file_headers(ctx)
    size = ctx.data.meta.get("image_size")
    if not headers or not size:
        return None
    from collections import Counter

    modes = Counter(h[4] for h in headers)
    common = modes.most_common(1)[0][0]
    th, tw = size
    odd: dict[str, list[int]] = {}
    reasons: Counter = Counter()
    for split, pos, _, (w, h), mode in headers:
        why = []
        if mode != common:
            why.append(f"mode {mode}")
        ratio = (w / h) / (tw / th)
        if max(ratio, 1 / ratio) >= ASPECT_FACTOR:
            why.append("aspect ratio")
        if w < UPSCALE_FRACTION * tw or h < UPSCALE_FRACTION * th:
            why.append("too small")
        if why:
            odd.setdefault(split, []).append(pos)
            reasons.update(why)
    if not odd:
        return None
    total = sum(len(v) for v in odd.values())
    return Finding(
        "corrupt-sample",
        Severity.INFO,
        f"{total} image files differ from the rest ({dict(reasons)}; most are {common}, resized to "
        f"{tw}x{th}): conversion or resizing changes them more than the others.",
        {
            "samples": ctx.samples({k: np.array(v) for k, v in odd.items()}),
            "reasons": dict(reasons),
            "headers_read": len(headers),
        },
        "Look at those files: convert them to the common mode, crop instead of squeezing, or drop "
        "images far too small for the chosen size (--image-size).",
    )


def outlier_scores(ctx: AuditContext) -> dict[str, np.ndarray]:
    """Each sample's mean distance to its nearest training samples over the training median."""
    if "outlier_scores" in ctx.cache:
        return ctx.cache["outlier_scores"]
    from sklearn.neighbors import NearestNeighbors

    train = ctx.features("train")
    rng = np.random.default_rng(ctx.seed + 2)
    ref_idx = np.arange(len(train))
    if len(train) > OUTLIER_REFERENCE:
        ref_idx = np.sort(rng.choice(len(train), OUTLIER_REFERENCE, replace=False))
    k = min(OUTLIER_K, len(ref_idx) - 1)
    if k < 1:
        return {}
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(train[ref_idx])
    raw = {}
    for split in ctx.splits:
        dist, idx = nn.kneighbors(ctx.features(split))
        if split == "train":
            # a reference sample finds itself first; drop that neighbour
            is_ref = np.isin(np.arange(len(dist)), ref_idx)
            dist = np.where(is_ref[:, None], dist[:, 1:], dist[:, :k])
        else:
            dist = dist[:, :k]
        raw[split] = dist.mean(axis=1)
        if split == "train":
            ctx.cache["outlier_dimension"] = intrinsic_dimension(dist)
    scale = float(np.median(raw["train"])) or 1.0
    scores = {k_: v / scale for k_, v in raw.items()}
    ctx.cache["outlier_scores"] = scores
    return scores


def outliers(ctx: AuditContext) -> list[Finding]:
    """Samples far from every training sample (kNN distance in the feature space)."""
    scores = outlier_scores(ctx)
    if not scores:
        return []
    logs = np.log(np.maximum(scores["train"], 1e-12))
    spread = 1.4826 * float(np.median(np.abs(logs - np.median(logs))))
    adaptive = float(np.exp(np.median(logs) + OUTLIER_SIGMAS * spread))
    by_density = OUTLIER_DENSITY ** (1 / ctx.cache.get("outlier_dimension", float("inf")))
    threshold = max(OUTLIER_RATIO[ctx.data.modality], adaptive, by_density)
    findings = []
    for split, s in scores.items():
        far = np.flatnonzero(s >= threshold)
        if len(far) == 0:
            continue
        far = far[np.argsort(-s[far])]
        frac = len(far) / len(s)
        warn = frac >= OUTLIER_WARNING and len(far) >= OUTLIER_MIN
        severity = Severity.WARNING if warn else Severity.INFO
        findings.append(
            Finding(
                "outliers",
                severity,
                f"{len(far)} {split} samples ({frac:.1%}) are far from every training sample (nearest-"
                f"neighbour distance >= {threshold:.1f}x the typical one; worst {s[far[0]]:.1f}x).",
                {
                    "split": split,
                    "threshold_ratio": round(threshold, 2),
                    "scores": s[far[:50]].round(2).tolist(),
                    "samples": ctx.samples({split: far}),
                },
                "Look at them (audit/outliers.png): remove corrupt or mis-scaled samples, keep genuine "
                "rare cases (and get more of them).",
            )
        )
    return findings
