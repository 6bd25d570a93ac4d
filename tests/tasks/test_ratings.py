"""The ratings task: metrics, baselines (pandas as oracle), ranking metrics, y_range init."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from nnrecipe.tasks import make_task, task_from_description
from nnrecipe.tasks.ratings import BiasBaseline, MeanRating, Ratings
from nnrecipe.tasks.ratings_report import ranking


def _pairs(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u, i = rng.integers(1, 50, n), rng.integers(1, 40, n)
    bu, bi = rng.normal(0, 0.7, 50), rng.normal(0, 0.7, 40)
    y = np.clip(3.5 + bu[u] + bi[i] + rng.normal(0, 0.5, n), 1, 5).astype(np.float32)
    return np.c_[u, i].astype(np.float32), y


def test_metrics_are_rmse_and_mae():
    task = Ratings((0.5, 5.5))
    m = task.metrics(torch.tensor([3.0, 4.0, 2.0]), torch.tensor([4.0, 4.0, 4.0]))
    assert np.isclose(m["rmse"], np.sqrt(5 / 3)) and np.isclose(m["mae"], 1.0)


def test_mean_baselines_match_pandas():
    x, y = _pairs()
    df = pd.DataFrame({"u": x[:, 0], "i": x[:, 1], "y": y})
    user = MeanRating("user").fit(x, y).output(x).numpy()
    assert np.allclose(user, df.groupby("u")["y"].transform("mean").to_numpy(), atol=1e-5)
    item = MeanRating("item").fit(x, y).output(x).numpy()
    assert np.allclose(item, df.groupby("i")["y"].transform("mean").to_numpy(), atol=1e-5)
    unseen = MeanRating("user").fit(x, y).output(np.array([[999.0, 1.0]]))
    assert np.isclose(float(unseen[0]), y.mean())


def test_bias_baseline_beats_the_means():
    x_all, y_all = _pairs(4000)
    x, y, xv, yv = x_all[:3000], y_all[:3000], x_all[3000:], y_all[3000:]

    def rmse(est):
        return float(np.sqrt(((est.fit(x, y).output(xv).numpy() - yv) ** 2).mean()))

    assert rmse(BiasBaseline()) < min(rmse(MeanRating("user")), rmse(MeanRating("item")))


def test_ranking_metrics_small_example():
    users = np.array([1, 1, 1, 2, 2, 2])
    y = np.array([5.0, 1.0, 4.0, 2.0, 5.0, 1.0])
    perfect = ranking(users, y.copy(), y, k=2, min_rated=3)
    assert perfect["ndcg@2"] == 1.0 and perfect["hit_rate@2"] == 0.75  # user 2: 5 then 2
    worst = ranking(users, -y, y, k=1, min_rated=3)  # the lowest-rated item ranked first
    assert worst["hit_rate@1"] == 0.0 and worst["ndcg@1"] == 0.0
    assert ranking(users, y, y, k=2, min_rated=4)["users_ranked"] == 0


def test_init_output_is_the_mean_through_the_sigmoid():
    y = torch.tensor([1.0, 2.0, 5.0, 4.0])
    task = make_task("ratings", y)
    lo, hi = task.y_range
    bias = task.init_output(y)["bias"]
    assert np.isclose(float(lo + (hi - lo) * torch.sigmoid(bias)), float(y.mean()), atol=1e-4)
    assert np.isclose(task.expected_init_loss(y), float(((y - y.mean()) ** 2).mean()))


def test_description_round_trip_and_alias():
    task = make_task("collab", torch.tensor([1.0, 5.0, 3.0]))
    again = task_from_description(task.describe())
    assert isinstance(again, Ratings) and again.y_range == task.y_range == (0.5, 5.5)
