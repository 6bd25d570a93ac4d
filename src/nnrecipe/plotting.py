"""Training plots as PNG files: loss and metric curves, confusion matrix, predicted vs true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def loss_curves(
    history: list[dict[str, Any]], path: Path, *, expected_init: float | None = None
) -> Path:
    """Train and valid loss per epoch (log scale when they span more than a decade)."""
    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train", ms=3)
    ax.plot(epochs, [r["valid_loss"] for r in history], "o-", label="valid", ms=3)
    if expected_init is not None:
        ax.axhline(expected_init, color="gray", ls="--", lw=1, label="expected loss at init")
    values = [r[k] for r in history for k in ("train_loss", "valid_loss")]
    if min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def metric_curves(
    history: list[dict[str, Any]],
    metric: str,
    path: Path,
    baselines: dict[str, float] | None = None,
) -> Path:
    """The validation metric per epoch, with the baselines as horizontal lines."""
    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(epochs, [r[f"valid_{metric}"] for r in history], "o-", label=f"valid {metric}", ms=3)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{i + 2}", label=f"{name} baseline")
    ax.set(xlabel="epoch", ylabel=metric, title=f"Validation {metric}")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def lr_curve(history: list[dict[str, Any]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.plot([r["epoch"] for r in history], [r["lr"] for r in history], "o-", ms=3)
    ax.set(xlabel="epoch", ylabel="learning rate (end of epoch)", title="Learning rate")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[str],
    path: Path,
    title: str = "Confusion matrix",
) -> Path:
    """Counts, rows = true class, columns = predicted class."""
    from sklearn.metrics import confusion_matrix as cm

    plt = _plt()
    m = cm(y_true, y_pred, labels=list(range(len(classes))))
    size = min(1.2 + 0.45 * len(classes), 12)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90 if len(classes) > 6 else 0)
    ax.set_yticks(range(len(classes)), classes)
    if len(classes) <= 30:
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black",
                    fontsize=8,
                )
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def predicted_vs_true(
    y_true: np.ndarray, y_pred: np.ndarray, path: Path, title: str = "Predicted vs true"
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


# -- the report's plots from the training monitor (`nnrecipe.train.monitor`) and the weights --


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def prediction_dynamics(record: dict[str, Any], path: Path) -> Path:
    """A heat map: followed validation samples (rows) x epochs (columns); the colour is the
    probability of the true class (classification) or the prediction error (regression)."""
    plt = _plt()
    # Tasks record "p_true" (probability of the true label) or "predicted" values.
    probabilities = any(e.get("p_true") is not None for e in record["epochs"])
    key = "p_true" if probabilities else "predicted"
    rows_ = [e for e in record["epochs"] if e.get(key) is not None]
    epochs = [e["epoch"] for e in rows_]
    n = len(record["positions"])
    if probabilities:
        m = np.array([e["p_true"] for e in rows_]).T
        cmap, vmin, vmax, label = "RdYlGn", 0.0, 1.0, "p(true class)"
        rows = [
            f"valid #{i} (class {t})"
            for i, t in zip(record["index"], record["targets"], strict=False)
        ]
    else:
        pred = np.array([e["predicted"] for e in rows_]).T
        m = np.abs(pred - np.array(record["targets"])[:, None])
        cmap, vmin, vmax, label = (
            "magma_r",
            0.0,
            float(np.nanmax(m)) or 1.0,
            "|prediction - target|",
        )
        rows = [f"valid #{i}" for i in record["index"]]
    fig, ax = plt.subplots(figsize=(min(2.5 + 0.22 * len(epochs), 9.5), 1.2 + 0.2 * n))
    im = ax.imshow(m, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    step = max(1, len(epochs) // 15)
    ax.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
    ax.set_yticks(range(n), rows, fontsize=7)
    ax.set(xlabel="epoch (0 = at init)", title="Prediction dynamics on a fixed validation batch")
    fig.colorbar(im, ax=ax, label=label, fraction=0.04)
    return _save(fig, path)


def activation_stats(record: dict[str, Any], path: Path) -> Path:
    """Per layer over epochs: fraction of dead units (ReLU family), activation mean and std."""
    plt = _plt()
    epochs = [e["epoch"] for e in record["epochs"]]
    layers = record["layers"]
    has_dead = any(
        e["activations"].get(name, {}).get("dead") is not None
        for e in record["epochs"]
        for name in layers
    )
    panels = [
        ("dead", "fraction of dead units"),
        ("mean", "activation mean"),
        ("std", "activation std"),
    ]
    if not has_dead:
        panels = panels[1:]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, (key, title) in zip(np.atleast_1d(axes), panels, strict=False):
        for i, name in enumerate(layers):
            vals = [e["activations"].get(name, {}).get(key) for e in record["epochs"]]
            if all(v is None for v in vals):
                continue
            ax.plot(
                epochs,
                [np.nan if v is None else v for v in vals],
                "o-",
                ms=2,
                lw=1.2,
                color=plt.cm.viridis(i / max(len(layers) - 1, 1)),
                label=name,
            )
        ax.set(xlabel="epoch", title=title)
        ax.xaxis.set_major_locator(_integer_ticks())
        if key == "dead":
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    last = np.atleast_1d(axes)[-1]
    if last.get_legend_handles_labels()[0]:  # no layer drawn (e.g. no ReLU): no empty legend
        last.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return _save(fig, path)


def gradient_norms(record: dict[str, Any], path: Path) -> Path:
    """Root-mean-square gradient norm per weight tensor and globally, per epoch (log scale)."""
    plt = _plt()
    rows = [e for e in record["epochs"] if e.get("grad_norms")]
    epochs = [e["epoch"] for e in rows]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    names = record["weights"]
    for i, name in enumerate(names):
        ax.plot(
            epochs,
            [max(e["grad_norms"].get(name, np.nan), 1e-12) for e in rows],
            "o-",
            ms=2,
            lw=1.1,
            color=plt.cm.viridis(i / max(len(names) - 1, 1)),
            label=name,
        )
    ax.plot(
        epochs,
        [e["grad_norms"].get("(global)", np.nan) for e in rows],
        "k--",
        lw=2,
        label="(global)",
    )
    ax.set_yscale("log")
    ax.set(
        xlabel="epoch", ylabel="gradient norm (RMS over steps)", title="Gradient norms per layer"
    )
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def conv_filters(weight: np.ndarray, path: Path, *, max_filters: int = 64) -> Path:
    """First-layer filters as images: (O, I, kh, kw) as RGB when I == 3, else the mean over
    inputs in a diverging map; (O, I, k) 1-D kernels as one heat-map row each."""
    plt = _plt()
    w = weight[:max_filters]
    if w.ndim == 3:  # (O, I, k): one row of taps per filter, averaged over inputs
        m = w.mean(1)
        lim = float(np.abs(m).max()) or 1.0
        fig, ax = plt.subplots(figsize=(min(2.2 + 0.35 * m.shape[1], 9), 1.2 + 0.12 * len(m)))
        im = ax.imshow(
            m, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest"
        )
        ax.set(
            xlabel="tap",
            ylabel="filter",
            title=f"First-layer 1-D filters ({len(m)} of {len(weight)})",
        )
        fig.colorbar(im, ax=ax, fraction=0.05)
        return _save(fig, path)
    # One mosaic image (one axes): each filter a tile, a 1-pixel white gap between tiles.
    n, kh, kw = len(w), w.shape[2], w.shape[3]
    cols = min(n, 16)
    rows = -(-n // cols)
    mosaic = np.ones((rows * (kh + 1) + 1, cols * (kw + 1) + 1, 3))
    lim = float(np.abs(w).max()) or 1.0
    cmap = plt.get_cmap("RdBu_r")
    for k in range(n):
        f = w[k]
        if f.shape[0] == 3:
            tile = ((f - f.min()) / (f.max() - f.min() or 1.0)).transpose(1, 2, 0)
        else:
            tile = cmap((f.mean(0) / lim + 1) / 2)[..., :3]
        r, c = divmod(k, cols)
        mosaic[
            1 + r * (kh + 1) : 1 + r * (kh + 1) + kh, 1 + c * (kw + 1) : 1 + c * (kw + 1) + kw
        ] = tile
    scale = 0.5 / max(kh, kw, 1)  # inches per pixel: a 3x3 filter is 0.5 inch wide
    fig, ax = plt.subplots(figsize=(max(mosaic.shape[1] * scale, 3), mosaic.shape[0] * scale + 0.4))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    ax.set_title(
        f"First-layer filters ({n} of {len(weight)}, shape {tuple(weight.shape[1:])})", fontsize=9
    )
    return _save(fig, path)


def lr_range_test(rng: dict[str, Any], path: Path) -> Path:
    """Loss against learning rate (log scale) of the checks stage's range test, with the lr at
    the minimum, the suggested lr, the divergence point and the configured lr marked."""
    plt = _plt()
    lrs, losses = np.array(rng["lrs"], dtype=float), np.array(rng["losses"], dtype=float)
    n = min(len(lrs), len(losses))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(lrs[:n], losses[:n], lw=1.3, label="training loss")
    marks = (
        ("lr_min", "C3", "minimum"),
        ("suggested", "C2", "suggested"),
        ("lr_diverge", "C1", "diverges"),
        ("configured", "k", "configured"),
        ("auto", "C4", "--lr auto"),
    )
    for key, color, label in marks:
        value = rng.get(key)
        if isinstance(value, int | float) and value > 0:
            ax.axvline(value, color=color, ls="--", lw=1, label=f"{label} {value:.2g}")
    finite = losses[:n][np.isfinite(losses[:n])]
    if finite.size:
        lo, start = float(finite.min()), float(finite[0])
        ax.set_ylim(lo - 0.05 * abs(lo), max(start, lo) * 1.6 + 1e-9)
    ax.set_xscale("log")
    ax.set(xlabel="learning rate", ylabel="loss", title="Learning-rate range test")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def tuning_history(trials: list[dict[str, Any]], path: Path) -> Path:
    """Validation error per trial (pruned trials as crosses at their last reported value) and
    the best complete trial so far."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    done = [
        t
        for t in trials
        if t.get("state") == "complete" and isinstance(t.get("value"), int | float)
    ]
    pruned = [
        t for t in trials if t.get("state") == "pruned" and isinstance(t.get("value"), int | float)
    ]
    ax.plot([t["number"] for t in done], [t["value"] for t in done], "o", ms=4, label="complete")
    if pruned:
        ax.plot(
            [t["number"] for t in pruned],
            [t["value"] for t in pruned],
            "x",
            ms=5,
            color="C7",
            label="pruned",
        )
    if done:
        order = sorted(done, key=lambda t: t["number"])
        best = np.minimum.accumulate([t["value"] for t in order])
        ax.step([t["number"] for t in order], best, where="post", color="C3", label="best so far")
    ax.set(xlabel="trial", ylabel="valid error", title="Tuning history")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
