"""Predicted distributions: CRPS, NLL and 90% coverage on the test split, mean ± std over seeds.

    OMP_NUM_THREADS=1 .venv/bin/python bench/distribution.py [--seeds 3] [--epochs 40]

Rows: the climatology (training targets' distribution), a point-estimate MLP (MSE; its CRPS is
its MAE), a homoscedastic Gaussian (the point MLP with one sigma, the train residuals' std),
scikit-learn's quantile-loss gradient boosting (19 quantiles, scored as an ensemble), and
nnrecipe's distribution task with the bins head and the Gaussian head (CRPS loss), on the
heteroscedastic built-in `hetero` and on `diabetes`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.tasks import crps as S

LEVELS = np.linspace(0.05, 0.95, 19)


def _scores(task, out, y) -> dict[str, float]:
    m = task.metrics(out, y)
    return {"crps": m["crps"], "nll": m["nll"], "cover90": m["coverage90"]}


def _train(data, seed: int, epochs: int) -> nr.Learner:
    torch.manual_seed(seed)
    model = build_model(None, data)
    learner = nr.Learner(model, data, seed=seed, threads=1, quiet=True, patience=None)
    learner.fit(epochs)
    return learner


def _ensemble_scores(samples: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """CRPS of quantile predictions read as an equally weighted ensemble (properscoring)."""
    import properscoring as ps

    lo, hi = samples[:, 0], samples[:, -1]  # the 0.05 and 0.95 quantiles
    return {
        "crps": float(ps.crps_ensemble(y, samples).mean()),
        "nll": float("nan"),
        "cover90": float(((y >= lo) & (y <= hi)).mean()),
    }


def run_seed(name: str, seed: int, epochs: int) -> dict[str, dict[str, float]]:
    base = nr.datasets.load(name, seed=seed, task="distribution")
    y_test = base.test.y.float()
    rows: dict[str, dict[str, float]] = {}
    task = base.task
    rows["climatology"] = _scores(task, task.climatology_output(len(y_test), base.train.y), y_test)
    # Point estimate: the same MLP trained with MSE on the regression reading of the data.
    reg = base.with_task("regression")
    point = _train(reg, seed, epochs)
    pred_test = point.predict(reg.test.x).reshape(-1, 1)
    rows["point MLP (CRPS = MAE)"] = _scores(task, pred_test, y_test)
    resid = point.predict(reg.train.x).reshape(-1) - reg.train.y.reshape(-1)
    sigma = float(resid.std())
    gauss = base.with_task(None, head="gaussian")
    homo = torch.stack([pred_test[:, 0], torch.full_like(pred_test[:, 0], np.log(sigma))], 1)
    rows["homoscedastic Gaussian"] = _scores(gauss.task, homo, y_test)
    # Quantile gradient boosting (scikit-learn), one model per quantile.
    from sklearn.ensemble import GradientBoostingRegressor

    x_train, x_test = base.train.x.numpy(), base.test.x.numpy()
    qs = [
        GradientBoostingRegressor(loss="quantile", alpha=float(a), random_state=seed)
        .fit(x_train, base.train.y.numpy())
        .predict(x_test)
        for a in LEVELS
    ]
    rows["quantile GBM (sklearn)"] = _ensemble_scores(np.sort(np.stack(qs, 1), 1), y_test.numpy())
    for label, data in (("nnrecipe bins", base), ("nnrecipe gaussian", gauss)):
        learner = _train(data, seed, epochs)
        out, y = learner.outputs("test")
        rows[label] = _scores(data.task, out, y)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--data", nargs="*", default=["hetero", "diabetes"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        t0 = time.perf_counter()
        per_seed = [run_seed(name, s, args.epochs) for s in range(args.seeds)]
        print(f"\n## {name}: test split, {args.seeds} seeds, {args.epochs} epochs")
        print("| model | CRPS | NLL | 90% coverage |\n|---|---|---|---|")
        for row in per_seed[0]:
            cells = []
            for key in ("crps", "nll", "cover90"):
                vals = [r[row][key] for r in per_seed]
                if any(v != v for v in vals):
                    cells.append("-")
                    continue
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                cells.append(f"{statistics.mean(vals):.4g} ± {sd:.2g}")
            print(f"| {row} | " + " | ".join(cells) + " |")
        print(f"({time.perf_counter() - t0:.0f} s)")
    _ = S  # the scores are nnrecipe.tasks.crps's, checked against properscoring in the tests


if __name__ == "__main__":
    main()
