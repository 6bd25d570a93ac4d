"""Synthetic data for the audit tests: images, signals and tables that a linear model separates
well, so that clean sets are quiet and planted problems stand out."""

from __future__ import annotations

import numpy as np
import torch

import nnrecipe as nr

MODALITIES = ("image", "sequence", "tabular")


def _smooth(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """(n, *shape) smooth random fields with unit spread (bicubic upsampling of coarse noise)."""
    coarse = tuple(max(3, s // 4) for s in shape)
    low = torch.from_numpy(rng.standard_normal((n, 1, *coarse)).astype(np.float32))
    mode = "bicubic" if len(shape) == 2 else "linear"
    up = torch.nn.functional.interpolate(low, size=shape, mode=mode, align_corners=False)[
        :, 0
    ].numpy()
    return up / up.std(axis=tuple(range(1, up.ndim)), keepdims=True)


def make_arrays(
    modality: str,
    n: int = 600,
    *,
    classes: int = 4,
    seed: int = 0,
    weights: list[float] | None = None,
    channels: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """x, y for one modality: images (n, C, 12, 12), signals (n, C, 64), tables (n, 8)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n, p=weights) if weights else np.arange(n) % classes
    y = rng.permutation(y) if not weights else y
    if modality == "tabular":
        centers = rng.normal(0, 2.0, (classes, 8))
        return (centers[y] + rng.standard_normal((n, 8))).astype(np.float32), y
    shape = (12, 12) if modality == "image" else (64,)
    xs = []
    for _ in range(channels):
        templates = _smooth(rng, classes, shape)
        contrast = rng.uniform(0.8, 1.2, (n,) + (1,) * len(shape))
        own = _smooth(rng, n, shape)
        xs.append(contrast * templates[y] + 0.5 * own + 0.1 * rng.standard_normal((n, *shape)))
    return np.stack(xs, axis=1).astype(np.float32), y


def make_data(modality: str, n: int = 600, **kwargs) -> nr.Data:
    x, y = make_arrays(modality, n, **kwargs)
    return nr.Data.from_arrays(x, y, valid=0.2, test=0.1, seed=0, modality=modality)


def source_indices(data: nr.Data, split: str, positions) -> set[int]:
    """Source indices (Split.index) of positions in a split: what the evidence names."""
    return {int(data.splits[split].index[p]) for p in positions}


def evidence_indices(finding: nr.Finding, split: str) -> set[int]:
    return set(finding.evidence["samples"]["indices"].get(split, []))


def noisy_copy(x: torch.Tensor, rel: float, gen: torch.Generator, scale=None) -> torch.Tensor:
    """`x` plus Gaussian noise with std `rel` times `scale` (default: x's own spread; for table
    rows, pass each feature's standard deviation)."""
    spread = float(x.std()) if scale is None else scale
    return x + rel * spread * torch.randn(x.shape, generator=gen)
