"""The few-shot task's baselines and report parts: the held-out classes' embeddings in 2-D
(PCA), the hardest positive and negative pairs with their distances, accuracy vs K."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

KS = (1, 2, 5, 10)
PAIRS = 6
MAX_POINTS = 1500


# -- baselines -------------------------------------------------------------------------------
class _InputSpace:
    """Nearest prototype in input space: the (flattened) inputs are the embedding."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _InputSpace:
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return torch.from_numpy(np.asarray(x, dtype=np.float32))


class _Untrained:
    """An untrained embedding network: a random 2-layer ReLU MLP (He init, seeded), the
    embedding a network starts from before any training."""

    def __init__(self, dim: int, width: int = 256) -> None:
        self.dim, self.width = dim, width

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Untrained:
        rng = np.random.default_rng(0)
        f = x.shape[1]
        self.w1 = rng.normal(scale=np.sqrt(2 / f), size=(f, self.width)).astype(np.float32)
        self.w2 = rng.normal(scale=np.sqrt(2 / self.width), size=(self.width, self.dim))
        return self

    def output(self, x: np.ndarray) -> Tensor:
        h = np.maximum(x @ self.w1, 0)
        return torch.from_numpy((h @ self.w2).astype(np.float32))


class _Penultimate:
    """A classifier trained on the training classes (scikit-learn MLP, one hidden layer of
    128); its hidden layer is the embedding of the held-out classes."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Penultimate:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=0)
            self.clf.fit(x, y)
        return self

    def output(self, x: np.ndarray) -> Tensor:
        h = np.maximum(x @ self.clf.coefs_[0] + self.clf.intercepts_[0], 0)
        return torch.from_numpy(h.astype(np.float32))


def baselines(task: Any) -> dict[str, Any]:
    return {
        "input-space": _InputSpace(),
        "untrained": _Untrained(task.dim),
        "classifier-penultimate": _Penultimate(),
    }


# -- report ----------------------------------------------------------------------------------
def _pca(emb: np.ndarray) -> np.ndarray:
    centred = emb - emb.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def accuracy_vs_k(task: Any, out: Tensor, y: Tensor) -> dict[str, float]:
    counts = torch.bincount(y.reshape(-1))
    smallest = int(counts[counts > 0].min())
    result = {}
    for k in KS:
        if k < smallest:
            result[str(k)] = round(float(task.episode_accuracies(out, y, shots=k).mean()), 4)
    return result


def hardest_pairs(task: Any, out: Tensor, y: Tensor) -> dict[str, list[tuple[int, int, float]]]:
    from nnrecipe.tasks.fewshot import _pair_distances

    n = min(len(y), MAX_POINTS)
    d = _pair_distances(out[:n])
    yy = y[:n].reshape(-1)
    same = yy[:, None] == yy[None]
    upper = torch.triu(torch.ones_like(same), 1)
    pos = torch.where(same & upper, d, torch.full_like(d, -1.0))
    neg = torch.where(~same & upper, d, torch.full_like(d, 9.0))
    result = {}
    for name, values, largest in (("positive", pos, True), ("negative", neg, False)):
        flat = values.reshape(-1)
        idx = torch.topk(flat, min(PAIRS, len(flat)), largest=largest).indices
        result[name] = [(int(i) // n, int(i) % n, float(flat[i])) for i in idx]
    return result


def collect(task: Any, out: Tensor, y: Tensor, sample: Callable[..., Any]) -> dict[str, Any]:
    y = y.reshape(-1).long()
    emb = task.predict(out)[:MAX_POINTS].numpy()
    xy = _pca(emb)
    pairs = hardest_pairs(task, out, y)
    return {
        "pca": {"xy": np.round(xy, 4).tolist(), "labels": y[:MAX_POINTS].tolist()},
        "accuracy_vs_k": accuracy_vs_k(task, out, y),
        "hardest_pairs": {
            kind: [
                {
                    "a": {**sample(i), "label": task.classes[int(y[i])]},
                    "b": {**sample(j), "label": task.classes[int(y[j])]},
                    "distance": dist,
                }
                for i, j, dist in rows
            ]
            for kind, rows in pairs.items()
        },
    }


def plots(task: Any, out: Tensor, y: Tensor, folder: Path) -> list[Path]:
    from nnrecipe.plotting import _plt, _save

    plt = _plt()
    y = y.reshape(-1).long()
    emb = task.predict(out)[:MAX_POINTS].numpy()
    xy = _pca(emb)
    labels = y[:MAX_POINTS].numpy()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for j, c in enumerate(np.unique(labels)):
        m = labels == c
        ax.scatter(xy[m, 0], xy[m, 1], s=8, color=f"C{j % 10}", label=task.classes[int(c)])
    ax.set(title="Held-out classes' embeddings (PCA)", xlabel="PC 1", ylabel="PC 2")
    ax.legend(markerscale=2, fontsize=8)
    files = [_save(fig, folder / "embeddings_pca_valid.png")]
    acc = accuracy_vs_k(task, out, y)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([int(k) for k in acc], list(acc.values()), "o-")
    ax.set(xlabel="K (shots per class)", ylabel="accuracy", title=f"{task.ways}-way accuracy vs K")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    files.append(_save(fig, folder / "accuracy_vs_k_valid.png"))
    return files


def report_results(task: Any, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
    from nnrecipe.html import absent, esc, figure, fmt, note, png_img, table, thumb_html

    pics = [
        figure(png_img(b, alt=f), cap)
        for key, cap in (
            ("embeddings_pca", "held-out classes' embeddings, first two principal components"),
            ("accuracy_vs_k", "accuracy of N-way K-shot episodes vs K"),
        )
        for f in plot_files
        if key in f and (b := run.file(f))
    ]
    held = ", ".join(task.classes[c] for c in task.held_out)
    parts = [
        f"<h3>Few-shot on held-out classes ({esc(held)})</h3>"
        + ("".join(pics) or absent("Not recorded."))
    ]
    acc = results.get("accuracy_vs_k") or {}
    if acc:
        parts.append(table(["K (shots)", f"{task.ways}-way accuracy"], list(acc.items())))
    for kind, what in (
        ("positive", "the same class, farthest apart"),
        ("negative", "different classes, closest together"),
    ):
        rows = (results.get("hardest_pairs") or {}).get(kind) or []
        tiles = [
            "<div class='tile'>"
            + thumb_html(p["a"], "sample")
            + thumb_html(p["b"], "sample")
            + f"<div>#{esc(p['a'].get('index'))} ({esc(p['a']['label'])}) · "
            f"#{esc(p['b'].get('index'))} ({esc(p['b']['label'])})</div>"
            f"<div>distance <b>{fmt(p['distance'], 3)}</b></div></div>"
            for p in rows
        ]
        parts.append(
            f"<h3>Hardest {kind} pairs: {esc(what)}</h3>"
            + (f"<div class='grid'>{''.join(tiles)}</div>" if tiles else absent("Not recorded."))
        )
    parts.append(note("Distances are between unit-length embeddings (0 to 2)."))
    return "".join(parts)
