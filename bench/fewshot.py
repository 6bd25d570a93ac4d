"""Few-shot: 5-way 1-shot accuracy on held-out classes (test split, 1,000 episodes), nnrecipe's
embedding (each objective) vs input-space nearest neighbour and the other baselines, mean ± 95%
interval over seeds (t-free: 1.96 sd / sqrt(seeds)); "episodes ±" is the mean 95% interval
over the 1,000 episodes within a seed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fewshot.py [--seeds 3] [--epochs 20]

Classes 0-4 train, 5-9 are held out, on `digits` (8x8 images) and `mnist1d` (1-D signals).
The default objective is supcon for images, contrastive for signals (`nnrecipe.tasks.fewshot`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

import nnrecipe as nr
from nnrecipe.models import build_model

OBJECTIVES = ("supcon", "contrastive", "triplet")


def run_seed(name: str, seed: int, epochs: int) -> dict[str, tuple[float, float]]:
    rows: dict[str, tuple[float, float]] = {}
    for objective in OBJECTIVES:
        data = nr.datasets.load(
            name, seed=seed, task="few-shot", task_options={"objective": objective}
        )
        if objective == OBJECTIVES[0]:
            x_train = data.train.x.flatten(1).numpy()
            x_test = data.test.x.flatten(1).numpy()
            for base, est in data.task.baselines().items():
                est.fit(x_train, data.train.y.numpy())
                m = data.task.metrics(est.output(x_test), data.test.y)
                rows[base] = (m["accuracy"], m["accuracy_ci95"])
        torch.manual_seed(seed)
        learner = nr.Learner(build_model(None, data), data, seed=seed, threads=1, quiet=True)
        learner.fit(epochs)
        m = learner.evaluate("test")
        rows[f"nnrecipe {objective}"] = (m["accuracy"], m["accuracy_ci95"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", nargs="*", default=["digits", "mnist1d"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        t0 = time.perf_counter()
        per_seed = [run_seed(name, s, args.epochs) for s in range(args.seeds)]
        print(f"\n## {name}: 5-way 1-shot on classes 5-9 (test), {args.seeds} seeds")
        print("| embedding | accuracy (± 95% over seeds) | episodes ± |\n|---|---|---|")
        for row in per_seed[0]:
            vals = [r[row][0] for r in per_seed]
            ci = 1.96 * statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0.0
            within = statistics.mean(r[row][1] for r in per_seed)
            print(f"| {row} | {statistics.mean(vals):.3f} ± {ci:.3f} | {within:.3f} |")
        print(f"({time.perf_counter() - t0:.0f} s; chance 0.200)")


if __name__ == "__main__":
    main()
