"""Tables: nnrecipe's default (entity embeddings, the run's default settings) against
scikit-learn's HistGradientBoosting and one-hot + MLP, on the same seeded splits.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tabular.py [--seeds 3] [--epochs 20]

Tables: `penguins` (real, 344 rows, missing values); a generated table whose binary target
depends on two high-cardinality categorical columns (1,000 and 300 levels) and a continuous
one, where embeddings should beat one-hot; the MovieLens-100k users table (real, 943 rows:
gender from age, occupation and zip code, a high-cardinality column), from recbole's files.
Metric: valid accuracy, mean ± std over the seeds, and the wall time per fit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import nnrecipe as nr
from nnrecipe.data.table_builtin import packaged_file
from nnrecipe.models import build_model


def generated(path: Path, n: int = 6000, seed: int = 123) -> Path:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 1000, n), rng.integers(0, 300, n)
    ea, eb = rng.normal(0, 1.5, 1000), rng.normal(0, 1.5, 300)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logit = ea[a] + eb[b] + 0.7 * x1
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame(
        {"shop": [f"s{v}" for v in a], "product": [f"p{v}" for v in b], "x1": x1, "x2": x2}
    )
    df["bought"] = np.where(y, "yes", "no")
    df.to_csv(path, index=False)
    return path


def movielens_users(path: Path) -> Path:
    src = packaged_file(
        "recbole", "dataset_example", "ml-100k", "ml-100k.user", install="pip install recbole"
    )
    df = pd.read_csv(src, sep="\t")
    df.columns = [c.split(":")[0] for c in df.columns]
    df["age"] = df["age"].astype(float)  # a measurement, not 61 levels
    df = df.drop(columns=["user_id"])
    df.to_csv(path, index=False)
    return path


def _rows(data: nr.Data, split: str) -> np.ndarray:
    return data.splits[split].index.numpy()


def hist_gb(data: nr.Data, frame: pd.DataFrame, target: str, seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = frame.drop(columns=[target]).copy()
    cats = []
    for c in x.columns:
        if x[c].dtype == object or str(x[c].dtype) in ("string", "str"):
            if x[c].nunique() <= 255:  # HistGradientBoosting's native categorical limit
                x[c] = x[c].astype("category")
                cats.append(c)
            else:
                x[c] = pd.factorize(x[c])[0].astype(float)  # ordinal codes beyond 255 levels
    clf = HistGradientBoostingClassifier(
        categorical_features=cats or None, random_state=seed, early_stopping=False
    )
    y = frame[target].astype(str).to_numpy()
    tr, va = _rows(data, "train"), _rows(data, "valid")
    clf.fit(x.iloc[tr], y[tr])
    return float((clf.predict(x.iloc[va]) == y[va]).mean())


def _nnrecipe(model: torch.nn.Module, data: nr.Data, seed: int, epochs: int) -> float:
    learner = nr.Learner(model, data, seed=seed, threads=1, quiet=True)
    learner.fit(epochs)
    return learner.evaluate("valid")["accuracy"]


def one_hot_mlp(data: nr.Data, seed: int, epochs: int) -> float:
    cards = [len(v) + 2 for v in data.meta["table"]["categorical"].values()]

    def encode(split: str) -> torch.Tensor:
        x = data.splits[split].x
        if not isinstance(x, dict):
            return x
        hot = [torch.nn.functional.one_hot(x["cat"][:, j], n).float() for j, n in enumerate(cards)]
        return torch.cat([*hot, x["cont"]], 1)

    flat = nr.Data.from_splits(
        encode("train"), data.train.y, encode("valid"), data.valid.y, task="classification"
    )
    torch.manual_seed(seed)
    return _nnrecipe(build_model("mlp", flat), flat, seed, epochs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    tables = {
        "penguins": (
            packaged_file("palmerpenguins", "data", "penguins.csv", install="-"),
            "species",
        ),
        "generated high-card": (generated(tmp / "gen.csv"), "bought"),
        "movielens users": (movielens_users(tmp / "users.csv"), "gender"),
    }
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name, (path, target) in tables.items():
        frame = pd.read_csv(path)
        for seed in range(args.seeds):
            data = nr.Data.from_csv(path, target=target, seed=seed, test=0.0)
            runs = {
                "nnrecipe default": lambda d=data, s=seed: _nnrecipe(
                    (torch.manual_seed(s), build_model(None, d))[1], d, s, args.epochs
                ),
                "HistGradientBoosting": lambda d=data, s=seed, f=frame, t=target: hist_gb(
                    d, f, t, s
                ),
                "one-hot + MLP": lambda d=data, s=seed: one_hot_mlp(d, s, args.epochs),
            }
            for label, fn in runs.items():
                t = time.perf_counter()
                acc = fn()
                results.setdefault((name, label), []).append((acc, time.perf_counter() - t))
                print(f"{name} seed {seed} {label}: {acc:.4f}", flush=True)
    print(f"\nvalid accuracy, mean ± std over {args.seeds} seeds (same splits per seed)")
    print(f"{'table':<22} {'model':<22} {'accuracy':>17} {'seconds':>8}")
    for (name, label), vals in results.items():
        accs = [a for a, _ in vals]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        secs = statistics.mean(s for _, s in vals)
        print(f"{name:<22} {label:<22} {statistics.mean(accs):>8.4f} ± {sd:.4f} {secs:>8.1f}")


if __name__ == "__main__":
    main()
