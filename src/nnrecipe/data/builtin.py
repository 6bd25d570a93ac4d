"""Built-in data sets: offline (scikit-learn's bundled sets, MNIST-1D generated locally) and,
for users with internet, torchvision's MNIST, Fashion-MNIST and CIFAR-10."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnrecipe.data.core import Data
from nnrecipe.data.seg_builtin import nuclei, shapes
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError


def _standardize(x: np.ndarray, train_idx: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    mean = x[train_idx].mean(axis=axes, keepdims=True)
    std = x[train_idx].std(axis=axes, keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _sklearn(loader: str, modality: str, task: str, **kw: Any) -> Data:
    import sklearn.datasets as skd

    bunch = getattr(skd, loader)()
    x = bunch.data.astype(np.float32)
    y = bunch.target
    classes = [str(c) for c in bunch.target_names] if task == "classification" else None
    if modality == "image":
        x = x.reshape(-1, 1, 8, 8) / 16.0  # digits: 8x8 pixels with values 0..16
    data = Data.from_arrays(
        x,
        y.astype(np.int64 if task == "classification" else np.float32),
        task=task,
        modality=modality,
        classes=classes,
        feature_names=None if modality == "image" else list(map(str, bunch.feature_names)),
        name=kw.pop("name"),
        **kw,
    )
    _normalize_inputs(data, per_channel=modality == "image")
    if modality == "image":
        data.meta["input_scale"] = 1 / 16.0  # raw digits pixels are 0..16 (nr.load replays it)
    return data


def _normalize_inputs(data: Data, per_channel: bool) -> None:
    """Zero mean, unit variance with training statistics (per channel for images)."""
    x = data.train.x
    dims = (0, *range(2, x.ndim)) if per_channel else (0,)
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True)
    std = std.where(std > 0, 1.0)
    for s in data.splits.values():
        s.x = (s.x - mean) / std
    data.meta["normalize"] = {"mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist()}


def _mnist1d(**kw: Any) -> Data:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset is deterministic (its own seed) and identical to the paper's frozen set;
    # get_dataset would try the network and write a pickle into the working directory.
    d = make_dataset(get_dataset_args())
    x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
    x_test, y_test = d["x_test"].astype(np.float32), d["y_test"].astype(np.int64)
    seed = kw.get("seed", 0)
    train_dev = kw.get("train_dev", 0.0)
    inner = Data.from_arrays(
        x,
        y,
        valid=kw.get("valid", 0.2),
        test=0.0,
        train_dev=train_dev,
        seed=seed,
        modality="sequence",
        task="classification",
    )
    splits = dict(inner.splits)
    import torch

    splits["test"] = Split(
        torch.from_numpy(x_test)[:, None], torch.from_numpy(y_test), index=torch.arange(len(x_test))
    )
    data = Data(
        splits,
        task=inner.task,
        modality="sequence",
        name="mnist1d",
        meta={"source": "mnist1d.data.make_dataset(get_dataset_args())", "seed": seed},
    )
    _normalize_inputs(data, per_channel=True)
    return data


def _torchvision(cls_name: str, **kw: Any) -> Data:
    import torch
    import torchvision

    root = Path.home() / ".cache" / "nnrecipe" / cls_name.lower()
    cls = getattr(torchvision.datasets, cls_name)
    try:
        train = cls(root, train=True, download=True)
        test = cls(root, train=False, download=True)
    except Exception as e:
        raise DataError(
            f"Cannot download {cls_name} ({type(e).__name__}: {e}): this data set needs internet "
            f"once (it is cached in {root}); offline, use 'digits' or 'mnist1d'."
        ) from e

    def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data, dtype=np.float32) / 255.0
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        return x, np.asarray(ds.targets, dtype=np.int64)

    x, y = arrays(train)
    xt, yt = arrays(test)
    inner = Data.from_arrays(
        x,
        y,
        valid=kw.get("valid", 0.1),
        test=0.0,
        seed=kw.get("seed", 0),
        train_dev=kw.get("train_dev", 0.0),
        modality="image",
        classes=list(train.classes),
        task="classification",
    )

    inner.splits["test"] = Split(
        torch.from_numpy(xt), torch.from_numpy(yt), index=torch.arange(len(xt))
    )
    inner.name = cls_name.lower()
    _normalize_inputs(inner, per_channel=True)
    return inner


def _table(name: str, **kw: Any) -> Data:
    if name == "movielens":
        from nnrecipe.data.ratings import movielens

        return movielens(**kw)
    from nnrecipe.data.table_builtin import penguins

    return penguins(**kw)


LOADERS: dict[str, Callable[..., Data]] = {
    "digits": lambda **kw: _sklearn("load_digits", "image", "classification", name="digits", **kw),
    "breast_cancer": lambda **kw: _sklearn(
        "load_breast_cancer", "tabular", "classification", name="breast_cancer", **kw
    ),
    "wine": lambda **kw: _sklearn("load_wine", "tabular", "classification", name="wine", **kw),
    "iris": lambda **kw: _sklearn("load_iris", "tabular", "classification", name="iris", **kw),
    "diabetes": lambda **kw: _sklearn(
        "load_diabetes", "tabular", "regression", name="diabetes", **kw
    ),
    "penguins": lambda **kw: _table("penguins", **kw),
    "movielens-100k": lambda **kw: _table("movielens", **kw),
    "mnist1d": _mnist1d,
    "shapes": shapes,  # segmentation, synthetic (nnrecipe.data.seg_builtin)
    "nuclei": nuclei,  # segmentation, stardist's microscopy image (nnrecipe.data.seg_builtin)
    "mnist": lambda **kw: _torchvision("MNIST", **kw),
    "fashion-mnist": lambda **kw: _torchvision("FashionMNIST", **kw),
    "cifar10": lambda **kw: _torchvision("CIFAR10", **kw),
}


# Built-ins defined in their own modules that take the test fraction, or the task's options
# (a corpus is read with the task's vocabulary settings).
_OWN_TEST: tuple[str, ...] = ()
_TAKE_OPTIONS: tuple[str, ...] = ()


def register_loader(
    name: str, *, takes_test: bool = True, takes_options: bool = False
) -> Callable[..., Any]:
    """Register a built-in data set loader ``fn(**split) -> Data`` under `name`; with
    `takes_options` it also gets ``task_options=``."""

    def deco(fn: Callable[..., Data]) -> Callable[..., Data]:
        global _OWN_TEST, _TAKE_OPTIONS
        LOADERS[name] = fn
        if takes_test:
            _OWN_TEST = (*_OWN_TEST, name)
        if takes_options:
            _TAKE_OPTIONS = (*_TAKE_OPTIONS, name)
        return fn

    return deco


def names() -> list[str]:
    """Names of the built-in data sets."""
    return list(LOADERS)


def load(
    name: str,
    *,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    task: str | None = None,
    task_options: dict[str, Any] | None = None,
) -> Data:
    """A built-in data set by name, split seeded and stratified, inputs standardised with
    training statistics.

    `task` reads the samples as another task (``"distribution"``, ``"few-shot"``) with its
    `task_options`.

    Offline: ``digits`` (8x8 images), ``mnist1d`` (1-D signals, generated locally; its own test
    split), ``breast_cancer``, ``wine``, ``iris`` (tables), ``diabetes`` (regression), ``penguins`` (a
    real table with categorical columns and missing values), ``movielens-100k`` (100,000
    ratings, collaborative filtering; from the ``recbole`` package's files), ``shapes`` and
    ``nuclei`` (segmentation, see `nnrecipe.data.seg_builtin`). With
    internet: ``mnist``, ``fashion-mnist``, ``cifar10`` (their own test splits).

    Example:
        >>> import nnrecipe as nr
        >>> nr.datasets.load("digits").input_shape
        (1, 8, 8)
    """
    key = name.lower().replace("_", "-") if name.lower() not in LOADERS else name.lower()
    key = {"breast-cancer": "breast_cancer", "fashion_mnist": "fashion-mnist"}.get(key, key)
    if key not in LOADERS:
        raise DataError(f"Unknown data set {name!r}: built-in ones are {', '.join(LOADERS)}.")
    kw: dict[str, Any] = {"valid": valid, "train_dev": train_dev, "seed": seed}
    with_test = ("digits", "breast_cancer", "wine", "iris", "diabetes", "penguins")
    if key in (*with_test, "movielens-100k", "shapes", "nuclei", *_OWN_TEST):
        kw["test"] = test
    if key in _TAKE_OPTIONS:
        return LOADERS[key](task_options=task_options, **kw).with_task(task)
    data = LOADERS[key](**kw)
    # Another reading of the same samples (`--task distribution` on diabetes, few-shot digits).
    return data.with_task(task, **(task_options or {}))


from nnrecipe.data import synthetic as _synthetic  # noqa: E402,F401  (registers its loaders)
from nnrecipe.data import text as _text  # noqa: E402,F401
