"""Tiny data for the search tests: a few hundred tabular samples, so a trial takes a second."""

from __future__ import annotations

import numpy as np
import pytest

import nnrecipe as nr


def blobs(n: int = 300, features: int = 6, seed: int = 0) -> nr.Data:
    """Three Gaussian classes, overlapping enough that settings matter."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centers = rng.normal(size=(3, features)) * 1.2
    x = (centers[y] + rng.normal(size=(n, features))).astype(np.float32)
    return nr.Data.from_arrays(x, y, valid=0.3, test=0.1, seed=seed, name="blobs")


@pytest.fixture
def tiny() -> nr.Data:
    return blobs()


# A small space: fast trials (MLP of 16-64 units), with lr spanning good and bad values.
SPACE = {
    "lr": {"low": 1e-4, "high": 1e-1, "log": True},
    "width": [16, 32, 64],
    "depth": {"low": 1, "high": 2},
}
