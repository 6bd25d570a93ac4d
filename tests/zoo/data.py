"""Data sets of the bug zoo, built once per process (all offline)."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

import nnrecipe as nr


@cache
def digits() -> nr.Data:
    """8x8 digit images (1, 8, 8), standardised."""
    return nr.datasets.load("digits")


@cache
def digits_tabular() -> nr.Data:
    """The digits as a 64-column table, standardised, 10 classes."""
    d = digits()
    flat = [d.splits[s].x.flatten(1) for s in ("train", "valid")]
    return nr.Data.from_splits(flat[0], d.train.y, flat[1], d.valid.y, modality="tabular")


@cache
def digits_raw() -> nr.Data:
    """The digits as 0-255 pixels, not normalised."""
    from sklearn.datasets import load_digits

    b = load_digits()
    x = (b.data.reshape(-1, 1, 8, 8) * 16).astype(np.float32)
    return nr.Data.from_arrays(x, b.target, seed=0)


@cache
def mnist1d() -> nr.Data:
    """MNIST-1D signals (1, 40), standardised, 10 classes."""
    return nr.datasets.load("mnist1d")


@cache
def mnist1d_binary() -> nr.Data:
    """MNIST-1D, odd vs even digits, float 0/1 targets (for BCEWithLogitsLoss)."""
    d = mnist1d()
    return nr.Data.from_splits(
        d.train.x,
        (d.train.y % 2).float(),
        d.valid.x,
        (d.valid.y % 2).float(),
        loss=torch.nn.BCEWithLogitsLoss(),
    )


@cache
def waves(scale: float = 1.0) -> nr.Data:
    """1-D regression: noisy sine waves (1, 40); target = standardised frequency x `scale`."""
    g = np.random.default_rng(0)
    n, t = 2000, np.linspace(0, 1, 40)
    f = g.uniform(1, 5, n)
    x = np.sin(2 * np.pi * f[:, None] * t + g.uniform(0, 6.28, (n, 1))) + 0.1 * g.standard_normal(
        (n, 40)
    )
    y = (f - f.mean()) / f.std() * scale
    return nr.Data.from_arrays(x[:, None].astype(np.float32), y.astype(np.float32), seed=0)


@cache
def breast_cancer() -> nr.Data:
    return nr.datasets.load("breast_cancer")


@cache
def breast_cancer_float() -> nr.Data:
    """Binary with float targets (N,) for BCEWithLogitsLoss on one logit."""
    d = breast_cancer()
    return nr.Data.from_splits(
        d.train.x,
        d.train.y.float(),
        d.valid.x,
        d.valid.y.float(),
        loss=torch.nn.BCEWithLogitsLoss(),
    )


@cache
def breast_cancer_raw() -> nr.Data:
    """The raw table: features in physical units (areas in the thousands)."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    return nr.Data.from_arrays(b.data.astype(np.float32), b.target, seed=0)


@cache
def wine() -> nr.Data:
    return nr.datasets.load("wine")


@cache
def diabetes(standardise: bool = True) -> nr.Data:
    """Diabetes regression; targets standardised unless `standardise=False` (raw 25-346)."""
    d = nr.datasets.load("diabetes")
    if not standardise:
        return d
    y = d.train.y
    mean, std = y.mean(), y.std()
    return nr.Data.from_splits(
        d.train.x, (d.train.y - mean) / std, d.valid.x, (d.valid.y - mean) / std
    )


def with_nan_inputs(data: nr.Data, rows: int = 5) -> tuple:
    """The tuple form of `data` with NaN in a few training inputs (missing values)."""
    x = data.train.x.clone()
    x[torch.arange(rows) * 7, 3] = float("nan")
    return x, data.train.y, data.valid.x, data.valid.y


def shuffled_labels(data: nr.Data, seed: int = 0) -> tuple:
    """Training labels permuted against their inputs (valid labels intact)."""
    g = torch.Generator().manual_seed(seed)
    y = data.train.y[torch.randperm(len(data.train.y), generator=g)]
    return data.train.x, y, data.valid.x, data.valid.y


def rolled_labels(data: nr.Data) -> tuple:
    """Training labels shifted by one position (an off-by-one in the loader)."""
    return data.train.x, torch.roll(data.train.y, 1), data.valid.x, data.valid.y
