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


def loss_curves(history: list[dict[str, Any]], path: Path, *, expected_init: float | None = None) -> Path:
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


def metric_curves(history: list[dict[str, Any]], metric: str, path: Path,
                  baselines: dict[str, float] | None = None) -> Path:
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


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], path: Path,
                     title: str = "Confusion matrix") -> Path:
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
                ax.text(j, i, str(m[i, j]), ha="center", va="center",
                        color="white" if m[i, j] > m.max() / 2 else "black", fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def predicted_vs_true(y_true: np.ndarray, y_pred: np.ndarray, path: Path, title: str = "Predicted vs true") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
