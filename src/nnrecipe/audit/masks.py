"""Audit checks for segmentation masks: `pixel-imbalance`, `empty-masks`, `mask-misaligned`,
`mask-interpolated`.

Each runs only when the targets are masks: one class index per pixel, ``(N, H, W)`` for images
``(N, C, H, W)`` of the same height and width; on other data they find nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.findings import Finding, Severity

# pixel-imbalance: a class under 1% of the training pixels gets few gradient updates and its
# Dice swings with a handful of pixels (shapes: smallest class 5%, nuclei 20%).
RARE_PIXELS = 0.01
# empty-masks: over half the masks empty (background only) and a model scores well by
# predicting background; any empty mask is listed as info (missing annotations look alike).
EMPTY_WARNING = 0.5
# mask-misaligned: edge contrast = mean image gradient on the mask's class boundaries / mean
# image gradient (4-pixel border left out). Measured on aligned data (best other placement in
# brackets): shapes 32x32 2.54 (2-px shift 1.20), zoo shapes 16x16 1.92 (transposed 1.12),
# 24x24 2.31 (1.14), nuclei 1.33 (2-px shift 1.24: soft edges, cannot be told). Mirrored zoo
# masks: as given 1.11, mirrored 1.92. Flagged when another placement beats the given one by
# 30% and is itself a clear edge match (contrast >= 1.5); below 1.5 everywhere, alignment
# cannot be told and nothing is reported.
ALIGN_RATIO = 1.3
ALIGN_MIN_CONTRAST = 1.5
ALIGN_SAMPLES = 256
# mask-interpolated: pixels whose class lies strictly between its two neighbours' classes on a
# line (a 1-pixel rim of class 1 between 0 and 2) are what interpolating class indices makes.
# Measured share of such pixels among boundary pixels: shapes (drawn) 0 of 37418, nuclei 0 of
# 18927; zoo shapes 24x24 resized bilinear to 16x16 and rounded: 0.21 (2614 of 12173).
INTERPOLATED_WARNING = 0.05
INTERPOLATED_MIN_PIXELS = 20


def _masks(ctx: AuditContext, split: str) -> np.ndarray | None:
    """(N, H, W) int masks of a split, or None when the targets are not masks of the images."""
    shape = ctx.data.input_shape
    y = ctx.splits[split].y
    if len(shape) != 3 or y.ndim != 3 or tuple(y.shape[1:]) != tuple(shape[1:]):
        return None
    return np.rint(y).astype(np.int64)


def _images(ctx: AuditContext, split: str) -> np.ndarray:
    s = ctx.splits[split]
    return s.x.reshape(len(s.x), *ctx.data.input_shape)  # (N, D) -> (N, C, H, W)


def pixel_counts(ctx: AuditContext) -> dict[str, dict[str, int]] | None:
    """Pixels per class name and split when the targets are masks (None otherwise)."""
    if _masks(ctx, "train") is None:
        return None
    k = max(ctx.num_classes, 1)
    names = ctx.class_names
    out = {}
    for split in ctx.splits:
        counts = np.bincount(_masks(ctx, split).reshape(-1).clip(0, k - 1), minlength=k)  # type: ignore[union-attr]
        out[split] = {names[c] if c < len(names) else str(c): int(counts[c]) for c in range(k)}
    return out


def pixel_imbalance(ctx: AuditContext) -> list[Finding]:
    """Classes with few training pixels, or missing from a split."""
    train = _masks(ctx, "train")
    if train is None:
        return []
    k = max(ctx.num_classes, int(train.max()) + 1)
    names = ctx.class_names + [str(i) for i in range(len(ctx.class_names), k)]
    counts = {
        s: np.bincount(_masks(ctx, s).reshape(-1).clip(0, k - 1), minlength=k) for s in ctx.splits
    }  # type: ignore[union-attr]
    share = counts["train"] / max(counts["train"].sum(), 1)
    found = []
    missing = [names[c] for c in range(k) if counts["train"][c] == 0]
    if missing:
        found.append(
            Finding(
                "pixel-imbalance",
                Severity.ERROR,
                f"No training pixel has class {', '.join(missing)}: the model can never learn to "
                "predict it.",
                {"train_share": share.round(5).tolist(), "missing": missing},
            )
        )
    rare = [c for c in range(k) if 0 < share[c] < RARE_PIXELS]
    if rare:
        found.append(
            Finding(
                "pixel-imbalance",
                Severity.WARNING,
                f"Class {', '.join(f'{names[c]} ({share[c]:.2%})' for c in rare)} covers under "
                f"{RARE_PIXELS:.0%} of the training pixels: it gets few gradient updates and its "
                "Dice swings with a handful of pixels.",
                {"train_share": share.round(5).tolist(), "rare": [names[c] for c in rare]},
            )
        )
    for split in ctx.heldout:
        absent = [names[c] for c in range(k) if counts["train"][c] > 0 and counts[split][c] == 0]
        if absent:
            found.append(
                Finding(
                    "pixel-imbalance",
                    Severity.WARNING,
                    f"The {split} masks never show class {', '.join(absent)}: its Dice is not "
                    f"measured on {split}.",
                    {"split": split, "absent": absent},
                )
            )
    return found


def empty_masks(ctx: AuditContext) -> list[Finding]:
    """Masks holding only the background (class 0), per split."""
    found = []
    for split in ctx.splits:
        m = _masks(ctx, split)
        if m is None:
            return []
        empty = np.flatnonzero((m.reshape(len(m), -1) == 0).all(axis=1))
        if len(empty) == 0:
            continue
        rate = len(empty) / len(m)
        severity = Severity.WARNING if rate > EMPTY_WARNING else Severity.INFO
        found.append(
            Finding(
                "empty-masks",
                severity,
                f"{len(empty)} of the {len(m)} {split} masks ({rate:.0%}) are empty (background "
                "only)"
                + (
                    ": predicting background everywhere already scores well on them."
                    if severity == Severity.WARNING
                    else ": check that they are truly empty, not missing annotations."
                ),
                {"split": split, "rate": round(rate, 4), "samples": ctx.samples({split: empty})},
            )
        )
    return found


def _edges(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W) image gradient magnitude (forward differences, L1 over C)."""
    g = np.zeros((x.shape[0], x.shape[2], x.shape[3]), dtype=np.float32)
    g[:, :, :-1] += np.abs(np.diff(x, axis=3)).sum(axis=1)
    g[:, :-1, :] += np.abs(np.diff(x, axis=2)).sum(axis=1)
    return g


def _boundaries(m: np.ndarray) -> np.ndarray:
    """(N, H, W) masks -> (N, H, W) bool: the pixel's class differs from its right/lower one."""
    b = np.zeros(m.shape, dtype=bool)
    b[:, :, :-1] |= m[:, :, 1:] != m[:, :, :-1]
    b[:, :-1, :] |= m[:, 1:, :] != m[:, :-1, :]
    return b


def _placements(m: np.ndarray) -> dict[str, np.ndarray]:
    """The masks as given, mirrored, rotated and shifted by a few pixels."""
    out = {
        "as given": m,
        "mirrored left-right": m[:, :, ::-1],
        "mirrored top-bottom": m[:, ::-1, :],
        "rotated 180°": m[:, ::-1, ::-1],
    }
    if m.shape[1] == m.shape[2]:
        out["transposed"] = m.transpose(0, 2, 1)
    for d in (2, 4):
        out[f"shifted {d} px right"] = np.roll(m, d, axis=2)
        out[f"shifted {d} px left"] = np.roll(m, -d, axis=2)
        out[f"shifted {d} px down"] = np.roll(m, d, axis=1)
        out[f"shifted {d} px up"] = np.roll(m, -d, axis=1)
    return out


def _contrast(g: np.ndarray, m: np.ndarray, border: int) -> float:
    b = _boundaries(m)
    inner = (slice(None), slice(border, -border - 1), slice(border, -border - 1))
    b, gi = b[inner], g[inner]
    if b.sum() == 0 or gi.mean() <= 0:
        return float("nan")
    return float(gi[b].mean() / gi.mean())


def mask_misaligned(ctx: AuditContext) -> list[Finding]:
    """Masks whose class boundaries follow the image's edges better once mirrored, rotated or
    shifted than as given: masks and images do not line up (per split)."""
    found = []
    for split in ctx.splits:
        m = _masks(ctx, split)
        if m is None:
            return []
        h, w = m.shape[1:]
        if min(h, w) < 12:
            continue
        n = min(len(m), ALIGN_SAMPLES)
        g = _edges(_images(ctx, split)[:n])
        scores = {k: _contrast(g, v, border=4) for k, v in _placements(m[:n]).items()}
        given = scores.pop("as given")
        best = max(scores, key=lambda k: -np.inf if np.isnan(scores[k]) else scores[k])
        top = scores[best]
        if not np.isfinite(top) or top < ALIGN_MIN_CONTRAST:
            continue
        if not np.isfinite(given) or top > ALIGN_RATIO * given:
            found.append(
                Finding(
                    "mask-misaligned",
                    Severity.ERROR,
                    f"The {split} masks follow the images' edges better {best} than as given "
                    f"(edge contrast {top:.2f} vs {given:.2f}, over {n} images): masks and images "
                    "do not line up.",
                    {
                        "split": split,
                        "contrast_as_given": round(given, 4),
                        "best_placement": best,
                        "contrast_best": round(top, 4),
                        "contrasts": {k: round(v, 4) for k, v in scores.items()},
                        "images": n,
                    },
                )
            )
    return found


def _between(m: np.ndarray) -> tuple[int, int]:
    """(pixels whose class is strictly between both neighbours' on a row or column, boundary
    pixels)."""
    c = m[:, 1:-1, 1:-1]

    def strictly_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.minimum(a, b) < c) & (c < np.maximum(a, b))

    rows = strictly_between(m[:, 1:-1, :-2], m[:, 1:-1, 2:])
    cols = strictly_between(m[:, :-2, 1:-1], m[:, 2:, 1:-1])
    edge = _boundaries(m)[:, 1:-1, 1:-1]
    return int((rows | cols).sum()), int(edge.sum())


def mask_interpolated(ctx: AuditContext) -> list[Finding]:
    """Thin rims of in-between classes along the boundaries: masks resized or warped with
    (bi)linear interpolation instead of nearest-neighbour."""
    m = _masks(ctx, "train")
    if m is None or int(m.max()) < 2:
        return []
    between, edge = _between(m)
    rate = between / max(edge, 1)
    ev: dict[str, Any] = {"between_pixels": between, "boundary_pixels": edge, "rate": rate}
    if between < INTERPOLATED_MIN_PIXELS or rate < INTERPOLATED_WARNING:
        return []
    return [
        Finding(
            "mask-interpolated",
            Severity.WARNING,
            f"{rate:.0%} of the training masks' boundary pixels ({between}) hold a class lying "
            "between their neighbours' classes (class 1 between 0 and 2): the masks look resized "
            "or warped with bilinear interpolation, which invents classes along every border.",
            {**ev, "rate": round(rate, 4)},
        )
    ]
