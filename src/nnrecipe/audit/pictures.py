"""The audit's pictures: samples per class, duplicate / leak groups, suspicious labels, outliers,
feature histograms for tables. Each function writes one PNG and returns its path (or None)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.data import rows
from nnrecipe.plotting import _plt as plt
from nnrecipe.plotting import _save as save

SAMPLES_PER_CLASS = 8
MAX_CLASS_ROWS = 12
MAX_GROUP_ROWS = 8
MAX_GROUP_MEMBERS = 5
MAX_GRID = 24
MAX_HISTOGRAMS = 16
MAX_BARS = 30


def _plt() -> Any:

    return plt()


def _save(fig: Any, path: Path) -> Path:

    return save(fig, path)


class _Mosaic:
    """Samples drawn into the cells of one axes (far faster than one subplot per sample): an
    image, a signal, or a row of table features per cell, with a caption above it."""

    def __init__(
        self, ctx: AuditContext, n: int, cols: int, cell: float = 1.3, title: str = ""
    ) -> None:
        plt = _plt()
        self.ctx, self.cols = ctx, max(1, cols)
        self.rows = max(1, int(np.ceil(n / self.cols)))
        self.shape = ctx.data.input_shape
        self.fig, self.ax = plt.subplots(figsize=(self.cols * cell, self.rows * cell * 1.25 + 0.4))
        self.ax.set_xlim(0, self.cols)
        self.ax.set_ylim(-self.rows * 1.25, 0)
        self.ax.axis("off")
        if title:
            self.ax.set_title(title, fontsize=10)
        train = ctx.splits["train"].x
        sample = train if len(train) <= 2000 else train[:: max(1, len(train) // 2000)]
        # One display range for every cell (1st-99th percentile of training values), so that a
        # too-bright or too-dark sample looks too bright or too dark.
        self.lo, self.hi = (float(v) for v in np.percentile(sample, [1, 99]))
        if self.hi <= self.lo:
            self.hi = self.lo + 1.0
        self.mean, self.std = ctx.scale

    def draw(self, i: int, split: str, pos: int, caption: str) -> None:
        r, c = divmod(i, self.cols)
        left, top = c + 0.05, -r * 1.25 - 0.3  # the caption sits above the 0.9 x 0.9 cell
        x = self.ctx.splits[split].x[pos]
        span = self.hi - self.lo
        modality = self.ctx.data.modality
        if modality == "image":
            img = np.clip((x.reshape(self.shape) - self.lo) / span, 0, 1)  # (C, H, W)
            kw = {"cmap": "gray", "vmin": 0, "vmax": 1} if self.shape[0] == 1 else {}
            img = img[0] if self.shape[0] == 1 else img[:3].transpose(1, 2, 0)
            self.ax.imshow(
                img,
                extent=(left, left + 0.9, top - 0.9, top),
                interpolation="nearest",
                aspect="auto",
                **kw,
            )
        else:
            self.ax.add_patch(_rect(left, top - 0.9))
            if modality == "sequence":
                rows = x.reshape(self.shape)[:4]
                t = left + np.linspace(0, 0.9, rows.shape[1])
                for ch, row in enumerate(rows):
                    v = np.clip((row - self.lo) / span, -0.25, 1.25)
                    self.ax.plot(t, top - 0.9 + 0.12 + 0.6 * v, lw=0.6, color=f"C{ch}")
            else:
                z = np.clip(((x - self.mean) / self.std)[:MAX_BARS], -4, 4)
                t = left + (np.arange(len(z)) + 0.5) * 0.9 / max(1, len(z))
                base = top - 0.45
                colors = np.where(np.abs(z) > 3, "C3", "C0")
                self.ax.vlines(
                    t, base, base + z * 0.1, colors=colors, lw=max(0.5, 40 / max(1, len(z)))
                )
                self.ax.hlines(base, left, left + 0.9, colors="gray", lw=0.3)
        self.ax.text(left + 0.45, top + 0.02, caption, ha="center", va="bottom", fontsize=6)

    def save(self, path: Path) -> Path:
        return _save(self.fig, path)


def _rect(x: float, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.9, 0.9, fill=False, lw=0.3, color="gray")


def _label(ctx: AuditContext, split: str, pos: int) -> str:
    if ctx.has_labels:
        return ctx.class_names[int(ctx.labels(split)[pos])]
    return f"{float(ctx.splits[split].y.reshape(len(ctx.splits[split].y), -1)[pos, 0]):.3g}"


def samples_per_class(ctx: AuditContext, path: Path) -> Path | None:
    """Random training samples, one row per class (like fastai's show_batch)."""
    if ctx.data.modality == "tabular":
        return histograms(ctx, path.with_name("histograms.png"))
    rng = np.random.default_rng(ctx.seed)
    n_train = len(ctx.splits["train"].x)
    if ctx.has_labels:
        y = ctx.labels("train")
        classes = [c for c in range(ctx.num_classes) if (y == c).any()][:MAX_CLASS_ROWS]
        rows = [rng.permutation(np.flatnonzero(y == c))[:SAMPLES_PER_CLASS] for c in classes]
    else:
        picks = rng.permutation(n_train)[: 4 * SAMPLES_PER_CLASS]
        rows = [picks[i : i + SAMPLES_PER_CLASS] for i in range(0, len(picks), SAMPLES_PER_CLASS)]
    title = "Random training samples" + (" (one row per class)" if ctx.has_labels else "")
    m = _Mosaic(ctx, len(rows) * SAMPLES_PER_CLASS, SAMPLES_PER_CLASS, title=title)
    for r, picks in enumerate(rows):
        for j, pos in enumerate(picks):
            pos = int(pos)
            m.draw(
                r * SAMPLES_PER_CLASS + j,
                "train",
                pos,
                f"{_label(ctx, 'train', pos)} #{ctx.ref('train', pos)['index']}",
            )
    return m.save(path)


def groups(
    ctx: AuditContext, members: list[list[tuple[str, int]]], path: Path, title: str
) -> Path | None:
    """Groups of copies side by side: one row per group."""
    members = [g[:MAX_GROUP_MEMBERS] for g in members[:MAX_GROUP_ROWS] if len(g) >= 2]
    if not members:
        return None
    cols = max(len(g) for g in members)
    m = _Mosaic(ctx, len(members) * cols, cols, cell=1.5, title=title)
    for r, g in enumerate(members):
        for j, (split, pos) in enumerate(g):
            m.draw(
                r * cols + j,
                split,
                pos,
                f"{split} #{ctx.ref(split, pos)['index']}: {_label(ctx, split, pos)}",
            )
    return m.save(path)


def label_issues(ctx: AuditContext, suspects: list[dict[str, Any]], path: Path) -> Path | None:
    """The most suspicious labels, with the given and the predicted label. None for a table:
    its suspects are rows (CSV line and values, `nnrecipe.data.rows`), shown as a table."""
    if not suspects or rows.columns(ctx.data):
        return None
    shown = suspects[:MAX_GRID]
    m = _Mosaic(
        ctx,
        len(shown),
        min(8, len(shown)),
        cell=1.5,
        title="Suspicious labels: given vs predicted (cross-validated cheap model)",
    )
    for i, s in enumerate(shown):
        m.draw(i, s["split"], s["position"], f"given {s['given']} / pred {s['predicted']}")
    return m.save(path)


def outliers(ctx: AuditContext, scores: dict[str, np.ndarray], path: Path) -> Path | None:
    """The samples farthest from the training data, worst first."""
    ranked = sorted(
        ((float(s[i]), k, int(i)) for k, s in scores.items() for i in np.argsort(-s)[:MAX_GRID]),
        reverse=True,
    )[:MAX_GRID]
    if not ranked:
        return None
    m = _Mosaic(
        ctx,
        len(ranked),
        min(8, len(ranked)),
        cell=1.5,
        title="Samples farthest from the training data (nearest-neighbour distance / typical)",
    )
    for i, (score, split, pos) in enumerate(ranked):
        m.draw(i, split, pos, f"{split} #{ctx.ref(split, pos)['index']}: {score:.1f}x")
    return m.save(path)


def histograms(ctx: AuditContext, path: Path) -> Path | None:
    """Histograms of the first table features, per class (train) and for valid."""
    plt = _plt()
    x = ctx.splits["train"].x
    names = ctx.data.feature_names or [f"feature {i}" for i in range(x.shape[1])]
    n = min(x.shape[1], MAX_HISTOGRAMS)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.0), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        # bins over the central 99% of train; values outside land in the edge bins
        lo, hi = np.percentile(x[:, i], [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)

        if ctx.has_labels and ctx.num_classes <= 6:
            y = ctx.labels("train")
            for c in range(ctx.num_classes):
                if (y == c).any():
                    _hist(ax, x[y == c, i], bins, alpha=0.5, label=ctx.class_names[c])
        else:
            _hist(ax, x[:, i], bins, alpha=0.6, label="train")
        if "valid" in ctx.splits:
            _hist(ax, ctx.splits["valid"].x[:, i], bins, histtype="step", color="k", label="valid")
        ax.set_title(names[i][:30], fontsize=8)
        ax.tick_params(labelsize=6)
    axes.ravel()[0].legend(fontsize=6)
    fig.suptitle("Feature densities (train per class, valid in black; central 99%)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _hist(ax: Any, v: np.ndarray, bins: np.ndarray, **kw: Any) -> None:
    ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, density=True, **kw)
