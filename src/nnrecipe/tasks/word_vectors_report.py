"""The word-vectors task's baselines, applicable codes and report parts: nearest neighbours of
frequent words, a 2-D map of the most frequent words, the similarity benchmark scatter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Input audits and checks about features, classes and probabilities do not apply to word ids.
NOT_APPLICABLE = {
    "duplicates",
    "split-leakage",
    "label-noise",
    "class-imbalance",
    "outliers",
    "constant-feature",
    "distribution-shift",
    "corrupt-sample",
    "input-scale",
    "target-scale",
    "output-is-probability",
    "input-ignored",  # zeroed ids are a word, not an absent input
}
NEIGHBOURS = 8
QUERY_WORDS = 10
MAP_WORDS = 120
MIN_QUERY_LEN = 4  # skip short function words when picking words to show


def applies(code: str) -> bool:
    return code not in NOT_APPLICABLE


# -- baselines ----------------------------------------------------------------------------------
class _Random:
    """Random vectors: the benchmarks' chance level (Spearman about 0)."""

    def __init__(self, n_words: int, dim: int) -> None:
        self.n_words, self.dim = n_words, dim

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Random:
        gen = torch.Generator().manual_seed(0)
        self.vectors = torch.randn(self.n_words, self.dim, generator=gen)
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return self.vectors[torch.from_numpy(x[:, 0].astype(np.int64))]


class _PpmiSvd:
    """Count-based vectors (Levy & Goldberg 2014): positive PMI of the (center, context)
    co-occurrences of one epoch's skip-gram examples, reduced by a truncated SVD."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def fit(self, x: np.ndarray, y: np.ndarray) -> _PpmiSvd:
        from nnrecipe.data.text import skipgram_examples

        t = self.task
        v = len(t.words)
        if t.corpus is not None:
            rows, _ = skipgram_examples(
                t.corpus,
                window=t.window,
                negatives=1,
                sample=t.sample,
                noise=t.noise,
                generator=torch.Generator().manual_seed(0),
            )
            pairs = rows[:, :2].numpy()
        else:
            pairs = x[:, :2].astype(np.int64)
        counts = np.zeros((v, v))
        np.add.at(counts, (pairs[:, 0], pairs[:, 1]), 1.0)
        total = counts.sum()
        rows_p = counts.sum(1, keepdims=True) / total
        cols_p = (counts.sum(0, keepdims=True) / total) ** 0.75  # smoothed context prior
        cols_p = cols_p / cols_p.sum()
        with np.errstate(divide="ignore"):
            pmi = np.log(counts / total) - np.log(rows_p) - np.log(cols_p)
        ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
        u, s, _ = np.linalg.svd(ppmi, full_matrices=False)
        k = min(int(t.dim), len(s))
        self.vectors = torch.from_numpy((u[:, :k] * np.sqrt(s[:k])).astype(np.float32))
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return self.vectors[torch.from_numpy(x[:, 0].astype(np.int64))]


def baselines(task: Any) -> dict[str, Any]:
    return {"random": _Random(len(task.words), int(task.dim)), "ppmi-svd": _PpmiSvd(task)}


# -- report -------------------------------------------------------------------------------------
def _vectors(task: Any, out: Tensor, y: Tensor) -> Tensor:
    v = torch.zeros(len(task.words), out.shape[1])
    v[y.long()] = out.float()
    return F.normalize(v, dim=1)


def _query_words(task: Any) -> list[int]:
    return [i for i, w in enumerate(task.words) if len(w) >= MIN_QUERY_LEN][:QUERY_WORDS]


def neighbours(task: Any, vectors: Tensor, ids: list[int]) -> list[dict[str, Any]]:
    sims = vectors[ids] @ vectors.T
    sims[torch.arange(len(ids)), torch.tensor(ids)] = -2.0  # not itself
    top = sims.topk(NEIGHBOURS, dim=1)
    return [
        {
            "word": task.words[i],
            "neighbours": [
                [task.words[int(j)], round(float(s), 3)]
                for j, s in zip(top.indices[r], top.values[r], strict=True)
            ],
        }
        for r, i in enumerate(ids)
    ]


def _scatter(task: Any, vectors: Tensor, name: str) -> dict[str, list]:
    pairs = task.benchmarks()[name]["pairs"]
    if not pairs:
        return {"human": [], "model": [], "words": []}
    a, b, human = zip(*pairs, strict=True)
    cos = (vectors[list(a)] * vectors[list(b)]).sum(1)
    return {
        "human": list(human),
        "model": [round(float(c), 4) for c in cos],
        "words": [[task.words[i], task.words[j]] for i, j in zip(a, b, strict=True)],
    }


def _map(task: Any, vectors: Tensor) -> dict[str, list]:
    ids = [i for i, w in enumerate(task.words) if len(w) >= 3][:MAP_WORDS]
    v = vectors[ids].numpy()
    v = v - v.mean(0)
    _, _, vt = np.linalg.svd(v, full_matrices=False)
    xy = v @ vt[:2].T
    return {"words": [task.words[i] for i in ids], "xy": np.round(xy, 4).tolist()}


def collect(task: Any, out: Tensor, y: Tensor) -> dict[str, Any]:
    vectors = _vectors(task, out, y)
    return {
        "neighbours": neighbours(task, vectors, _query_words(task)),
        "map": _map(task, vectors),
        "scatter": {name: _scatter(task, vectors, name) for name in ("wordsim353", "simlex999")},
        "scores": task.score_vectors(vectors),
    }


def plots(task: Any, out: Tensor, y: Tensor, folder: Path) -> list[Path]:
    from nnrecipe.data.text import save_word2vec
    from nnrecipe.plotting import _plt, _save

    plt = _plt()
    raw = torch.zeros(len(task.words), out.shape[1])
    raw[y.long()] = out.float()
    # The vectors themselves, next to the run's model, in the word2vec text format (gensim's
    # KeyedVectors.load_word2vec_format reads it).
    save_word2vec(folder.parent / "vectors.txt", task.words, raw)
    vectors = _vectors(task, out, y)
    m = _map(task, vectors)
    xy = np.array(m["xy"])
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(xy[:, 0], xy[:, 1], s=4, color="C0")
    for (px, py), w in zip(xy, m["words"], strict=True):
        ax.annotate(w, (px, py), fontsize=6)
    ax.set(title=f"The {len(m['words'])} most frequent words (PCA of the vectors)")
    files = [_save(fig, folder / "word_map_valid.png")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, name in zip(axes, ("wordsim353", "simlex999"), strict=True):
        s = _scatter(task, vectors, name)
        ax.scatter(s["human"], s["model"], s=8)
        rho = task.score_vectors(vectors)[name]
        ax.set(xlabel="human score", ylabel="cosine", title=f"{name} (Spearman {rho:.3f})")
        ax.grid(alpha=0.3)
    files.append(_save(fig, folder / "similarity_scatter_valid.png"))
    return files


def report_results(run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
    from nnrecipe.html import absent, esc, figure, kv_table, png_img, table

    pics = [
        figure(png_img(b, alt=f), cap)
        for key, cap in (
            ("similarity_scatter", "human similarity vs the vectors' cosine"),
            ("word_map", "a 2-D map of the most frequent words"),
        )
        for f in plot_files
        if key in f and (b := run.file(f))
    ]
    parts = ["<h3>Word vectors</h3>" + ("".join(pics) or absent("Not recorded."))]
    scores = results.get("scores") or {}
    if scores:
        parts.append("<h3>Benchmarks</h3>" + kv_table(sorted(scores.items())))
    rows = [
        [esc(n["word"]), esc(", ".join(f"{w} ({s:.2f})" for w, s in n["neighbours"]))]
        for n in results.get("neighbours") or []
    ]
    if rows:
        parts.append(
            "<h3>Nearest neighbours (cosine)</h3>"
            + table(["word", "nearest words"], rows, raw=True)
        )
    return "".join(parts)
