"""Learning curve: training and validation error against training-set size.

Read it with Ng: if validation error is still falling steeply at the full size, more data will
help (variance); if train and valid errors have met well above human-level, more data will not
(bias).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nnrecipe.config import make_config
from nnrecipe.data import Data
from nnrecipe.data.split import Split
from nnrecipe.errors import ModelError
from nnrecipe.train import Learner
from nnrecipe.train.saved import USER_MODEL_NAMES, build_from_meta, model_meta, run_config, run_data
from nnrecipe.tune.objective import error_of

FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def _subset(data: Data, n: int, seed: int) -> Data:

    x, y = data.train.tensors()
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    splits = dict(data.splits)
    splits["train"] = Split(x[idx], y[idx], index=idx)
    return Data(
        splits,
        task=data.task,
        modality=data.modality,
        name=data.name,
        feature_names=data.feature_names,
        meta=data.meta,
    )


def learning_curve(
    data: Data,
    *,
    model: Any = None,
    options: dict[str, Any] | None = None,
    fractions: tuple[float, ...] = FRACTIONS,
    epochs: int = 20,
    seed: int = 0,
    **learner: Any,
) -> list[dict[str, Any]]:
    """Train the model on growing random subsets of train; one row per size with
    ``n_train``, ``train_error`` (on that subset) and ``valid_error``.

    `model` is a built-in model's name (with `options`), or your own: an nn.Module in its
    initial state (copied for each size) or a function ``data -> nn.Module``."""

    rows = []
    n_full = len(data.train)
    threads = learner.pop("threads", 1)
    for frac in fractions:
        n = max(8, round(frac * n_full))
        sub = _subset(data, n, seed)
        torch.manual_seed(seed)
        m = build_from_meta({"model": model, "options": options or {}}, sub, _user(model))
        L = Learner(m, sub, seed=seed, quiet=True, threads=threads, **learner)
        L.fit(epochs)
        rows.append(
            {
                "n_train": n,
                "train_error": error_of(L.task, L.evaluate("train")),
                "valid_error": error_of(L.task, L.evaluate("valid")),
            }
        )
    return rows


def plot_learning_curve(rows: list[dict[str, Any]], path: Path, human: float | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    n = [r["n_train"] for r in rows]
    ax.plot(n, [r["train_error"] for r in rows], "o-", label="train")
    ax.plot(n, [r["valid_error"] for r in rows], "o-", label="valid")
    if human is not None:
        ax.axhline(human, color="gray", ls="--", label="human-level")
    ax.set_xscale("log")
    ax.set_xlabel("training samples")
    ax.set_ylabel("error")
    ax.set_title("Learning curve")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _user(model: Any) -> Any:
    """The user's own model (module or factory), or None for a built-in model's name."""
    return None if model is None or isinstance(model, str) else model


def run_learning_curve(
    run_dir: Path, *, epochs: int | None = None, model: Any = None, data: Any = None
) -> tuple[list[dict[str, Any]], str]:
    """The learning curve of a run's model and settings (tuned ones included); a run of your
    own model needs it again (`model=`), and refuses to plot a built-in model's curve instead."""
    config = make_config(run_config(run_dir)["config"])
    loaded = run_data(run_dir, data)
    meta = model_meta(run_dir)
    if model is None and meta.get("model") in USER_MODEL_NAMES:
        raise ModelError(
            "This run used your own model: pass model=... (your nn.Module in its initial "
            "state, or a function data -> nn.Module) for its learning curve."
        )
    training = meta.get("training", {})
    rows = learning_curve(
        loaded,
        model=model if model is not None else meta.get("model"),
        options=meta.get("options", {}),
        epochs=epochs or config.epochs,
        seed=config.seed,
        **{
            k: v
            for k, v in training.items()
            if k in ("lr", "weight_decay", "batch_size", "schedule", "patience", "clip")
        },
    )
    path = plot_learning_curve(rows, run_dir / "plots" / "learning_curve.png", config.human_error)
    return rows, str(path.relative_to(run_dir))
