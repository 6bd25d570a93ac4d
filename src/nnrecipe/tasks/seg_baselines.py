"""Segmentation baselines: the numbers a segmentation model has to beat.

Both take the flattened numpy arrays `nnrecipe.models.baselines` gives every task's baselines:
inputs ``(N, C*H*W)`` and masks ``(N, H, W)``; `output` returns ``(N, K, H, W)`` log-probabilities
that the task's metrics score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


class MajorityPixel:
    """Baseline: the training pixel-class prior at every pixel (input-free)."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def fit(self, x: np.ndarray, y: np.ndarray) -> MajorityPixel:
        self.log_prior = self.task.init_output(torch.from_numpy(y))["bias"].clone()
        self.hw = y.shape[1:]
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return self.log_prior[None, :, None, None].expand(len(x), -1, *self.hw).clone()


class PixelLinear:
    """Baseline: multinomial logistic regression on each pixel's channel values alone (a 1x1
    convolution), fitted on at most `max_pixels` training pixels."""

    def __init__(self, task: Any, *, max_pixels: int = 50_000, seed: int = 0) -> None:
        self.task, self.max_pixels, self.seed = task, max_pixels, seed

    def _pixels(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        c = x.shape[1] // int(np.prod(self.hw))
        # (N, C*H*W) -> (N, C, H*W) -> (N*H*W, C)
        return x.reshape(n, c, -1).transpose(0, 2, 1).reshape(-1, c)

    def fit(self, x: np.ndarray, y: np.ndarray) -> PixelLinear:
        from sklearn.linear_model import LogisticRegression

        self.hw = y.shape[1:]
        px, py = self._pixels(x), y.reshape(-1).astype(int)
        if len(px) > self.max_pixels:
            pick = np.random.default_rng(self.seed).choice(len(px), self.max_pixels, replace=False)
            px, py = px[pick], py[pick]
        self.model = LogisticRegression(max_iter=300).fit(px, py)
        return self

    def output(self, x: np.ndarray) -> Tensor:
        k = self.task.num_classes
        n = len(x)
        proba = np.full((n * int(np.prod(self.hw)), k), 1e-12)
        proba[:, self.model.classes_] = self.model.predict_proba(self._pixels(x))
        logp = torch.log(torch.from_numpy(proba).float().clamp_min(1e-12))
        return logp.reshape(n, *self.hw, k).movedim(-1, 1)  # (N, H, W, K) -> (N, K, H, W)
