"""The report's plots draw every input shape they are given (PNG files that open)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnrecipe import plotting as plots


def _opens(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("shape", [(32, 1, 3, 3), (24, 3, 5, 5), (70, 2, 7, 7), (16, 4, 9)])
def test_conv_filters_for_2d_rgb_multichannel_and_1d_kernels(
    shape: tuple[int, ...], tmp_path: Path
) -> None:
    w = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    width, height = _opens(plots.conv_filters(w, tmp_path / "f.png"))
    assert width > 200 and height > 80


def test_lr_range_and_tuning_history(tmp_path: Path) -> None:
    lrs = list(np.logspace(-6, 1, 60))
    losses = [2.3 - 0.02 * i for i in range(40)] + [float("inf")] * 20
    rng = {
        "lrs": lrs,
        "losses": losses,
        "lr_min": lrs[39],
        "suggested": lrs[39] / 10,
        "lr_diverge": None,
        "configured": 3e-3,
    }
    width, height = _opens(plots.lr_range_test(rng, tmp_path / "lr.png"))
    assert width > 200 and height > 100
    trials = [
        {"number": i, "state": s, "value": v}
        for i, (s, v) in enumerate(
            [("complete", 0.2), ("pruned", 0.5), ("complete", 0.1), ("fail", None)]
        )
    ]
    width, height = _opens(plots.tuning_history(trials, tmp_path / "t.png"))
    assert width > 200 and height > 100


def test_regression_prediction_dynamics(tmp_path: Path) -> None:
    record = {
        "kind": "regression",
        "positions": [0, 1, 2],
        "index": [5, 6, 7],
        "targets": [0.0, 1.0, 2.0],
        "epochs": [
            {"epoch": e, "predicted": [0.5 / (e + 1), 1.0, 2.0 + 1 / (e + 1)]} for e in range(4)
        ]
        + [{"epoch": 4, "activations": {}}],
    }  # an epoch whose outputs could not be read
    width, height = _opens(plots.prediction_dynamics(record, tmp_path / "d.png"))
    assert width > 200 and height > 100
