"""Word vectors: nnrecipe's skip-gram against gensim's Word2Vec(sg=1, negative=5) on the same
corpus (gensim's bundled Lee background corpus, tokenised the same way), same dimensions,
window, minimum count, subsampling and epochs; Spearman with WordSim-353 and SimLex-999 (both
scored by nnrecipe's scorer on the same covered pairs), analogy accuracy, wall time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/word_vectors.py [--seeds 3] [--epochs 20]

gensim runs with workers=1 (one core, like nnrecipe here). Needs gensim importable (pip
install gensim); nnrecipe itself only reads gensim's data files.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import nnrecipe as nr
from nnrecipe.data import text as T
from nnrecipe.models import build_model


def gensim_scores(task, sentences, seed: int, epochs: int, opts: dict) -> dict[str, float]:
    from gensim.models import Word2Vec

    t0 = time.perf_counter()
    model = Word2Vec(
        sentences,
        vector_size=opts["dim"],
        window=opts["window"],
        min_count=opts["min_count"],
        sample=opts["sample"],
        sg=1,
        negative=opts["negatives"],
        epochs=epochs,
        seed=seed,
        workers=1,
    )
    seconds = time.perf_counter() - t0
    vectors = torch.zeros(len(task.words), opts["dim"])
    for i, w in enumerate(task.words):
        vectors[i] = torch.from_numpy(model.wv[w].copy())
    assert len(model.wv) == len(task.words), "same vocabulary"
    return {**task.score_vectors(vectors), "seconds": seconds}


def nnrecipe_scores(seed: int, epochs: int, lr: float, opts: dict) -> dict[str, float]:
    data = nr.datasets.load("lee", seed=seed)
    torch.manual_seed(seed)
    model = build_model(None, data)
    learner = nr.Learner(model, data, lr=lr, seed=seed, threads=1, quiet=True, patience=None)
    t0 = time.perf_counter()
    history = learner.fit(epochs)
    seconds = time.perf_counter() - t0
    # The final vectors (as gensim's), not the best epoch on the benchmark.
    scores = data.task.score_vectors(model.vectors().detach())
    draw = time.perf_counter()
    T.skipgram_examples(
        data.task.corpus,
        window=opts["window"],
        negatives=opts["negatives"],
        sample=opts["sample"],
        noise=data.task.noise,
        generator=torch.Generator().manual_seed(0),
    )
    draw = time.perf_counter() - draw
    evals = sum(r["seconds"] for r in history)
    return {**scores, "seconds": seconds, "draw_per_epoch": draw, "epoch_seconds": evals / epochs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from nnrecipe.tasks.word_vectors import DEFAULTS

    opts = dict(DEFAULTS)
    lines = T.read_lines(T.gensim_test_data() / "lee_background.cor")
    sentences = [T.tokenize(line) for line in lines]
    task = nr.datasets.load("lee").task
    rows = {"gensim Word2Vec(sg=1, negative=5)": [], "nnrecipe skip-gram": []}
    for seed in range(args.seeds):
        rows["gensim Word2Vec(sg=1, negative=5)"].append(
            gensim_scores(task, sentences, seed, args.epochs, opts)
        )
        rows["nnrecipe skip-gram"].append(nnrecipe_scores(seed, args.epochs, args.lr, opts))
    bench = task.benchmarks()
    print(
        f"\n## lee_background.cor: {len(task.words)} words, dim {opts['dim']}, window "
        f"{opts['window']}, min_count {opts['min_count']}, {args.epochs} epochs, {args.seeds} "
        f"seeds (WordSim-353 pairs covered {len(bench['wordsim353']['pairs'])}, SimLex-999 "
        f"{len(bench['simlex999']['pairs'])}, analogies {len(bench['analogy']['questions'])})"
    )
    print("| model | WordSim-353 | SimLex-999 | analogy | seconds |\n|---|---|---|---|---|")
    for name, results in rows.items():
        cells = []
        for key in ("wordsim353", "simlex999", "analogy", "seconds"):
            vals = [r[key] for r in results]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.3f} ± {sd:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    mine = rows["nnrecipe skip-gram"]
    print(
        f"nnrecipe per epoch: {statistics.mean(r['epoch_seconds'] for r in mine):.1f} s, of "
        f"which drawing the examples {statistics.mean(r['draw_per_epoch'] for r in mine):.2f} s"
    )


if __name__ == "__main__":
    main()
