"""Synthetic built-in data sets, generated locally from a fixed seed (no download).

``hetero``: a heteroscedastic regression whose noise grows with the input, so a good
distribution model must widen its intervals where the noise is larger (``--task distribution``
is its default task).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrecipe.data.builtin import register_loader
from nnrecipe.data.core import Data

HETERO_SAMPLES = 2000
HETERO_SEED = 1234  # the data are the same for every run; `seed` only changes the split


def hetero_arrays(n: int = HETERO_SAMPLES, *, seed: int = HETERO_SEED) -> tuple[np.ndarray, ...]:
    """x: (n, 4) features, the first drives the mean and the noise, the others are noise;
    y = sin(2 x0) + x0 / 2 + noise with std 0.1 + 0.4 (x0 + 2) / 4, x0 uniform in [-2, 2]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 4)).astype(np.float32)
    std = 0.1 + 0.4 * (x[:, 0] + 2) / 4
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 0] + rng.normal(size=n) * std
    return x, y.astype(np.float32), std.astype(np.float32)


@register_loader("hetero")
def hetero(**kw: Any) -> Data:
    x, y, std = hetero_arrays()
    data = Data.from_arrays(
        x,
        y,
        task="distribution",
        modality="tabular",
        feature_names=["x0", "noise1", "noise2", "noise3"],
        name="hetero",
        **kw,
    )
    data.meta["source"] = "nnrecipe.data.synthetic.hetero_arrays()"
    data.meta["noise_std"] = "0.1 + 0.4 (x0 + 2) / 4"
    return data
