"""Few-shot: 5-way 1-shot accuracy on held-out classes (test split, 1,000 episodes), mean ±
std over seeds, nnrecipe's Siamese embedding vs input-space nearest neighbour and the other
baselines.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fewshot.py [--seeds 3] [--epochs 15]

Classes 0-4 train, 5-9 are held out, on `digits` (8x8 images) and `mnist1d` (1-D signals).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import nnrecipe as nr
from nnrecipe.models import build_model


def run_seed(name: str, seed: int, epochs: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    for objective in ("contrastive", "triplet"):
        data = nr.datasets.load(
            name, seed=seed, task="few-shot", task_options={"objective": objective}
        )
        if objective == "contrastive":
            x_train = data.train.x.flatten(1).numpy()
            x_test = data.test.x.flatten(1).numpy()
            for base, est in data.task.baselines().items():
                est.fit(x_train, data.train.y.numpy())
                rows[base] = data.task.metrics(est.output(x_test), data.test.y)["accuracy"]
        torch.manual_seed(seed)
        learner = nr.Learner(build_model(None, data), data, seed=seed, threads=1, quiet=True)
        learner.fit(epochs)
        rows[f"nnrecipe {objective}"] = learner.evaluate("test")["accuracy"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--data", nargs="*", default=["digits", "mnist1d"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        t0 = time.perf_counter()
        per_seed = [run_seed(name, s, args.epochs) for s in range(args.seeds)]
        print(f"\n## {name}: 5-way 1-shot on classes 5-9 (test), {args.seeds} seeds")
        print("| embedding | accuracy |\n|---|---|")
        for row in per_seed[0]:
            vals = [r[row] for r in per_seed]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"| {row} | {statistics.mean(vals):.3f} ± {sd:.3f} |")
        print(f"({time.perf_counter() - t0:.0f} s; chance 0.200)")


if __name__ == "__main__":
    main()
