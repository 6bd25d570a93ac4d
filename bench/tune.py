"""Grid vs random vs TPE: best validation error after N trials, mean ± std over seeds; and the
gain of averaging the top-K trials (ensemble) over the best single model.

    .venv/bin/python bench/tune.py                       # digits, MLP, 15 trials, 3 seeds
    .venv/bin/python bench/tune.py --data mnist1d --model cnn1d --trials 20 --epochs 10

Every sampler gets the same data split, search space (the model's default), epochs, pruner
(median) and seeds; only validation is looked at. Times are wall-clock on whatever machine runs
it (shared machines make them noisy).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import nnrecipe as nr


def best_after(trials: list[dict], n: int) -> float:
    """The best validation error among the first n trials (pruned ones never count)."""
    values = [
        t["value"] for t in trials if t["number"] < n and t["state"] == "complete" and t["feasible"]
    ]
    return min(values) if values else float("nan")


def fmt(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {std:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--model", default="mlp")
    p.add_argument("--trials", type=int, default=15)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--k", type=int, default=5, help="ensemble size")
    args = p.parse_args()

    data = nr.datasets.load(args.data)
    checkpoints = sorted({5, 10, args.trials} & set(range(1, args.trials + 1)))
    rows: dict[str, dict[int, list[float]]] = {}
    gains: list[float] = []
    ens_errors: list[float] = []
    single_errors: list[float] = []
    seconds: dict[str, list[float]] = {}
    for sampler in ("grid", "random", "tpe"):
        rows[sampler] = {n: [] for n in checkpoints}
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                r = nr.tune(
                    data,
                    trials=args.trials,
                    sampler=sampler,
                    model=args.model,
                    epochs=args.epochs,
                    seed=seed,
                    out=tmp,
                    quiet=True,
                )
                seconds.setdefault(sampler, []).append(time.perf_counter() - t0)
                for n in checkpoints:
                    rows[sampler][n].append(best_after(r.trials, n))
                if sampler == "tpe":
                    e = nr.ensemble(r, k=args.k)
                    gains.append(e.gain["valid"])
                    ens_errors.append(e.scores["valid"]["ensemble"]["error"])
                    single_errors.append(e.scores["valid"]["best_single"]["error"])
            print(
                f"  {sampler} seed {seed}: best {rows[sampler][checkpoints[-1]][-1]:.4f} "
                f"in {seconds[sampler][-1]:.0f} s",
                flush=True,
            )

    print(
        f"\n{args.data}, model {args.model}, {args.epochs} epochs per trial, median pruning, "
        f"{args.seeds} seeds (mean ± std of the best validation error)"
    )
    header = (
        "sampler  " + "".join(f"after {n:>3} trials      " for n in checkpoints) + "time per search"
    )
    print(header)
    for sampler, by_n in rows.items():
        cells = "".join(f"{fmt(by_n[n]):<22}" for n in checkpoints)
        print(f"{sampler:<8} {cells} {statistics.fmean(seconds[sampler]):.0f} s")
    print(
        f"\nensemble of the top {args.k} TPE trials (valid error): ensemble {fmt(ens_errors)} vs best single "
        f"{fmt(single_errors)}; gain {fmt(gains)}"
    )


if __name__ == "__main__":
    main()
