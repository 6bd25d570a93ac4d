"""`Data`: the train / valid / test (and optional train-dev) splits a recipe works on."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nnrecipe.data.batch import sample_shape, tensors_of
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError
from nnrecipe.tasks import Task, infer_task, make_task

MODALITIES = ("image", "sequence", "tabular")
SPLIT_NAMES = ("train", "valid", "test", "train_dev")


def as_tensor(a: Any, name: str) -> Tensor:
    """A numpy array, list or tensor as a CPU tensor (float32 for floats)."""
    if isinstance(a, Tensor):
        t = a.detach().cpu()
    else:
        try:
            arr = np.asarray(a)
        except Exception as e:  # ragged lists and the like
            raise DataError(
                f"{name} cannot be turned into an array ({e}): pass a numpy array."
            ) from e
        if arr.dtype == object:
            raise DataError(
                f"{name} has dtype object (mixed or ragged values): pass numbers, e.g. with "
                "Data.from_csv for tables with text columns."
            )
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if torch.is_floating_point(t):
        t = t.float()
    elif t.dtype == torch.bool:
        t = t.long()
    return t


def infer_modality(x_shape: Any) -> str:
    """Per-sample shape (F,) → tabular; (C, L) → sequence; (C, H, W) → image; several named
    or paired inputs → tabular when each is at most 1-D (columns, ids), else by the first."""
    if isinstance(x_shape, dict | list) or (x_shape and isinstance(x_shape[0], tuple)):
        shapes = list(x_shape.values()) if isinstance(x_shape, dict) else list(x_shape)
        if all(len(s) <= 1 for s in shapes):
            return "tabular"
        return infer_modality(shapes[0])
    if len(x_shape) == 1:
        return "tabular"
    if len(x_shape) == 2:
        return "sequence"
    if len(x_shape) == 3:
        return "image"
    raise DataError(
        f"Inputs of shape (N, {', '.join(map(str, x_shape))}) are not understood: use (N, features) for tables, "
        "(N, channels, length) for signals or (N, channels, height, width) for images."
    )


class Data:
    """Train / valid / test splits, plus an optional train-dev split, and what they are.

    Build it with a constructor method: `Data.from_arrays`, `Data.from_splits`,
    `Data.from_folder`, `Data.from_csv`, `Data.from_datasets`, or `nr.datasets.load(name)`.
    The train-dev split is a slice of train held out from training, to tell variance (train vs
    train-dev) from a mismatch between train and valid (train-dev vs valid).

    Attributes:
        splits: ``{"train": Split, "valid": Split, "test": Split?, "train_dev": Split?}``.
        task: the `Task` (classification / regression), inferred from train targets.
        modality: ``"image"``, ``"sequence"`` or ``"tabular"``.
        classes: class names for classification.
        feature_names: column names for tables.
        meta: provenance (source, normalisation, files, skipped corrupt files, ...).
    """

    def __init__(
        self,
        splits: dict[str, Split],
        *,
        task: Task,
        modality: str,
        name: str = "data",
        feature_names: list[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.splits = splits
        self.task = task
        self.modality = modality
        self.name = name
        self.feature_names = feature_names
        self.meta = meta or {}

    # -- access -------------------------------------------------------------------------------
    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def valid(self) -> Split:
        return self.splits["valid"]

    @property
    def test(self) -> Split | None:
        return self.splits.get("test")

    @property
    def train_dev(self) -> Split | None:
        return self.splits.get("train_dev")

    @property
    def classes(self) -> list[str] | None:
        return getattr(self.task, "classes", None)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.task, "num_classes", None)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. (1, 8, 8)."""
        x, _ = self.train.tensors(max_samples=1)
        return sample_shape(x)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"Data({self.name!r}, {self.modality}, {self.task.name}, {sizes})"

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for the run folder."""
        return {
            "name": self.name,
            "modality": self.modality,
            "task": self.task.describe(),
            "input_shape": _jsonable_shape(self.input_shape),
            "sizes": {k: len(v) for k, v in self.splits.items()},
            "feature_names": self.feature_names,
            "fingerprint": self.fingerprint(),
            "meta": {k: v for k, v in self.meta.items() if _jsonable(v)},
        }

    def fingerprint(self) -> str:
        """A hash of every split's inputs and targets (16 hex digits)."""
        h = hashlib.sha256()
        for name in SPLIT_NAMES:
            split = self.splits.get(name)
            if split is None:
                continue
            h.update(name.encode())
            if split.in_memory:
                for t in [*tensors_of(split.x), split.y]:  # type: ignore[arg-type]
                    h.update(t.contiguous().numpy().tobytes())  # type: ignore[union-attr]
            else:
                h.update(str(len(split)).encode())
                h.update(repr(split.dataset).encode())
        return h.hexdigest()[:16]

    def with_task(self, task: str | None = None, **options: Any) -> Data:
        """The same samples read as another task (``--task``), or with the task's options
        (``--task-option``). The task is built from the training targets and may re-split the
        samples (`Task.arrange`: few-shot holds out whole classes).

        Raises:
            DataError: the task cannot take these targets, or an option is invalid.
        """
        from nnrecipe.tasks import ALIASES

        name = ALIASES.get(task, task) if task else self.task.name
        if name == self.task.name and not options:
            return self
        splits = {
            k: Split(s.x, s.y, dataset=s.dataset, index=s.index, num_workers=s.num_workers)
            for k, s in self.splits.items()
        }
        return _assemble(
            splits,
            task=name,
            task_options=options,
            loss=None,
            modality=self.modality,
            classes=self.classes,
            feature_names=self.feature_names,
            name=self.name,
            meta=dict(self.meta),
        )

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def coerce(cls, data: Any, *, task: str | None = None, loss: Any = None) -> Data:
        """An `nr.Data` as is, or a tuple ``(x_train, y_train, x_valid, y_valid[, x_test,
        y_test])`` of arrays/tensors turned into one."""
        if isinstance(data, Data):
            return data
        if isinstance(data, tuple | list) and len(data) in (4, 6):
            return cls.from_splits(*data, task=task, loss=loss)
        raise DataError(
            f"Expected an nr.Data or a tuple (x_train, y_train, x_valid, y_valid), got "
            f"{type(data).__name__}: build one with nr.Data.from_arrays(x, y)."
        )

    @classmethod
    def from_splits(
        cls,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        x_test: Any = None,
        y_test: Any = None,
        *,
        task: str | None = None,
        loss: Any = None,
        modality: str | None = None,
        classes: list[str] | None = None,
        feature_names: list[str] | None = None,
        name: str = "arrays",
    ) -> Data:
        """Data from splits the user already made (arrays or tensors, used as given)."""
        pairs = {"train": (x_train, y_train), "valid": (x_valid, y_valid)}
        if x_test is not None:
            pairs["test"] = (x_test, y_test)
        tensors = {k: _check_pair(x, y, k) for k, (x, y) in pairs.items()}
        return _assemble(
            {k: Split(x, y, index=torch.arange(len(x))) for k, (x, y) in tensors.items()},
            task=task,
            loss=loss,
            modality=modality,
            classes=classes,
            feature_names=feature_names,
            name=name,
            meta={"source": name},
        )

    @classmethod
    def from_arrays(
        cls,
        x: Any,
        y: Any,
        *,
        valid: float = 0.2,
        test: float = 0.1,
        train_dev: float = 0.0,
        seed: int = 0,
        task: str | None = None,
        loss: Any = None,
        modality: str | None = None,
        classes: list[str] | None = None,
        feature_names: list[str] | None = None,
        name: str = "arrays",
        task_options: dict[str, Any] | None = None,
    ) -> Data:
        """Split arrays/tensors into train / valid / test (and train-dev), seeded and stratified
        for classification. Inputs are used as given (no rescaling).

        Example:
            >>> import numpy as np, nnrecipe as nr
            >>> x, y = np.random.rand(100, 3).astype("float32"), np.arange(100) % 2
            >>> nr.Data.from_arrays(x, y, valid=0.2, test=0.1, seed=0).valid.x.shape
            torch.Size([20, 3])
        """
        y, classes = string_labels(y, classes)
        xt, yt = _check_pair(x, y, "data")
        if task is None:
            _refuse_integer_values(yt)
        elif task == "regression" and not torch.is_floating_point(yt):
            yt = yt.float()  # integer measurements (diabetes as int64) are values
        stratify = _stratify_labels(xt, yt, task, loss, classes, task_options)
        parts = split_indices(
            len(xt), stratify, valid=valid, test=test, train_dev=train_dev, seed=seed
        )
        splits = {k: Split(xt[i], yt[i], index=i) for k, i in parts.items()}
        return _assemble(
            splits,
            task=task,
            task_options=task_options,
            loss=loss,
            modality=modality,
            classes=classes,
            feature_names=feature_names,
            name=name,
            meta={"source": name, "seed": seed},
        )

    @classmethod
    def from_datasets(cls, train: Any, valid: Any = None, test: Any = None, **kwargs: Any) -> Data:
        """Data from torch `Dataset`s of (x, y) pairs; see `nnrecipe.data.sources`."""
        from nnrecipe.data.sources import from_datasets

        return from_datasets(train, valid, test, **kwargs)

    @classmethod
    def from_folder(cls, path: Any, *, masks: Any = None, **kwargs: Any) -> Data:
        """Images in one sub-folder per class (ImageFolder layout); see `nnrecipe.data.folder`.

        With ``masks=FOLDER``: segmentation, each image paired with the mask of the same file
        stem in `masks`; see `nnrecipe.data.masks.from_mask_folder`.
        """
        if masks is not None:
            from nnrecipe.data.masks import from_mask_folder

            kwargs.pop("skip_corrupt", None)  # every image must have its mask: none is skipped
            kwargs.pop("in_memory", None)
            return from_mask_folder(path, masks, **kwargs)
        from nnrecipe.data.folder import from_folder

        return from_folder(path, **kwargs)

    @classmethod
    def from_ratings(cls, df: Any, *, users: str, items: str, ratings: str, **kwargs: Any) -> Data:
        """(user, item, rating) rows for collaborative filtering; see `nnrecipe.data.ratings`."""
        from nnrecipe.data.ratings import from_ratings

        return from_ratings(df, users=users, items=items, ratings=ratings, **kwargs)

    @classmethod
    def from_csv(cls, path: Any, *, target: str, **kwargs: Any) -> Data:
        """A table with a target column; see `nnrecipe.data.table`."""
        from nnrecipe.data.table import from_csv

        return from_csv(path, target=target, **kwargs)


def _jsonable_shape(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {k: list(v) for k, v in shape.items()}
    return [list(v) if isinstance(v, tuple) else v for v in shape]


def _jsonable(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | list | dict | type(None))


# Integer targets with more distinct values than this, and fewer than MIN_PER_CLASS samples per
# value on average, look like measured values (diabetes as int64: 214 values over 442 rows).
MANY_INT_VALUES = 50
MIN_PER_CLASS = 5


def string_labels(y: Any, classes: list[str] | None) -> tuple[Any, list[str] | None]:
    """Text labels as class indices, with the names kept as `classes` (sorted, or in the order
    of the given `classes`); other targets unchanged."""
    if isinstance(y, Tensor):
        return y, classes
    arr = np.asarray(y, dtype=object if isinstance(y, list) else None)
    if arr.dtype.kind not in "USO" or arr.size == 0:
        return y, classes
    flat = arr.reshape(-1).tolist()
    if not all(isinstance(v, str) for v in flat):
        return y, classes
    names = list(classes) if classes else sorted(set(flat))
    lookup = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(flat) - set(lookup))
    if unknown:
        raise DataError(
            f"Labels {unknown[:5]} are not in the given classes {names[:10]}: add them to "
            "classes= or fix the labels."
        )
    return np.array([lookup[v] for v in flat], dtype=np.int64).reshape(arr.shape), names


def _refuse_integer_values(y: Tensor) -> None:
    if torch.is_floating_point(y) or y.ndim != 1:
        return
    distinct = int(torch.unique(y).numel())
    if distinct > MANY_INT_VALUES and distinct * MIN_PER_CLASS > len(y):
        raise DataError(
            f"The {len(y)} integer targets take {distinct} distinct values, which would be "
            f"{distinct} classes of about {len(y) / distinct:.1f} samples each: pass "
            "task='regression' if they are measured values, or task='classification' to keep "
            "them as classes."
        )


def _check_pair(x: Any, y: Any, where: str) -> tuple[Tensor, Tensor]:
    if x is None or y is None:
        raise DataError(f"The {where} split needs both inputs and targets; one of them is None.")
    xt, yt = as_tensor(x, f"{where} inputs"), as_tensor(y, f"{where} targets")
    if xt.ndim == 0 or xt.shape[0] == 0:
        raise DataError(f"The {where} inputs are empty: give at least one sample per split.")
    if yt.ndim == 0 or yt.shape[0] != xt.shape[0]:
        got = "a scalar" if yt.ndim == 0 else f"{yt.shape[0]} targets"
        raise DataError(
            f"The {where} split has {xt.shape[0]} inputs but {got}: x and y must have the "
            "same length (one target per sample)."
        )
    if torch.is_floating_point(yt) and not torch.isfinite(yt).all():
        bad = (~torch.isfinite(yt)).reshape(len(yt), -1).any(1).nonzero().reshape(-1)
        raise DataError(
            f"The {where} targets contain {len(bad)} NaN/Inf values (first at sample "
            f"{int(bad[0])}): drop or fill those samples before training."
        )
    return xt, yt


def _stratify_labels(
    x: Tensor, y: Tensor, task: str | None, loss: Any, classes: Any, options: Any = None
) -> np.ndarray | None:
    shape = sample_shape(x)
    if task is None:
        return infer_task(y, loss=loss, classes=classes, x_shape=shape).stratify(y)
    return make_task(task, y, classes, x_shape=shape, loss=loss, **(options or {})).stratify(y)


def split_indices(
    n: int,
    labels: np.ndarray | None,
    *,
    valid: float,
    test: float,
    train_dev: float = 0.0,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Seeded index sets for each split, stratified by `labels` when given."""
    from sklearn.model_selection import train_test_split

    for name, frac in (("valid", valid), ("test", test), ("train_dev", train_dev)):
        if not 0 <= frac < 1:
            raise DataError(f"The {name} fraction must be in [0, 1), got {frac}.")
    if valid <= 0:
        raise DataError("The valid fraction must be > 0: early stopping needs a validation split.")
    if valid + test + train_dev >= 0.9:
        raise DataError(
            f"valid + test + train_dev = {valid + test + train_dev:.2f} leaves under 10% for "
            "training: use smaller fractions."
        )
    fracs = {"test": test, "valid": valid, "train_dev": train_dev}
    singles = _refuse_unsplittable(n, labels, fracs)
    idx = np.arange(n)
    parts: dict[str, np.ndarray] = {}
    pool = np.setdiff1d(idx, singles)  # a class seen once is trained on, never held out
    rest, rest_labels = pool, labels[pool] if labels is not None else None
    for name, frac in fracs.items():
        if frac <= 0:
            continue
        size = max(1, round(frac * n))
        if len(rest) - size < 1:
            raise DataError(
                f"Only {n} rows ({len(singles)} in classes seen once): too few to hold out "
                f"{size} for {name}; give more rows or smaller fractions."
            )
        strat = rest_labels if _can_stratify(rest_labels, size) else None
        rest, taken = train_test_split(rest, test_size=size, random_state=seed, stratify=strat)
        parts[name] = taken
        rest_labels = labels[rest] if labels is not None else None
    parts["train"] = np.concatenate([rest, singles])
    order = ("train", "valid", "test", "train_dev")
    return {k: torch.from_numpy(np.sort(parts[k])) for k in order if k in parts}


def rows_needed(fracs: dict[str, float]) -> int:
    """The fewest rows that split into train plus one row at least for each held-out split."""
    n = 1
    while n - sum(max(1, round(f * n)) for f in fracs.values() if f > 0) < 1:
        n += 1
    return n


def _refuse_unsplittable(n: int, labels: np.ndarray | None, fracs: dict[str, float]) -> np.ndarray:
    """Refuse, before scikit-learn would, data too small or too odd to split; returns the rows of
    classes seen once (kept for training)."""
    held = [k for k, f in fracs.items() if f > 0]
    need = rows_needed(fracs)
    if n < need:
        shares = ", ".join(f"{k} {fracs[k]:.0%}" for k in held)
        raise DataError(
            f"Only {n} rows: splitting into train and {', '.join(held)} ({shares}) needs at least "
            f"{need} rows (one row at least per split); give more rows or smaller fractions."
        )
    if labels is None:
        return np.zeros(0, dtype=np.int64)
    values, counts = np.unique(labels, return_counts=True)
    if len(values) > 1 and counts.max() == 1:
        raise DataError(
            f"Every one of the {n} labels is unique: classification needs at least 2 rows per "
            "class (one to train on, one to validate); for a numeric target pass task regression."
        )
    single = values[counts == 1]
    return np.flatnonzero(np.isin(labels, single)).astype(np.int64)


def _can_stratify(labels: np.ndarray | None, size: int) -> bool:
    if labels is None:
        return False
    counts = np.bincount(labels - labels.min())
    counts = counts[counts > 0]
    return counts.min() >= 2 and size >= len(counts) and len(labels) - size >= len(counts)


def _assemble(
    splits: dict[str, Split],
    *,
    task: str | Task | None,
    loss: Any,
    modality: str | None,
    classes: list[str] | None,
    feature_names: list[str] | None,
    name: str,
    meta: dict[str, Any],
    task_options: dict[str, Any] | None = None,
) -> Data:
    """Infer task and modality, fix input layout and target dtype, validate."""
    for k, s in splits.items():
        if len(s) == 0:
            raise DataError(f"The {k} split is empty: give more samples or a larger {k} fraction.")
    y_train = splits["train"].targets()
    x_shape = sample_shape(splits["train"].tensors(max_samples=1)[0])
    if isinstance(task, Task):
        task_obj = task
    elif task is None:
        task_obj = infer_task(y_train, loss=loss, classes=classes, x_shape=x_shape)
    else:
        task_obj = make_task(
            task, y_train, classes, x_shape=x_shape, loss=loss, **(task_options or {})
        )
    splits = task_obj.arrange(splits, seed=int(meta.get("seed") or 0))
    if modality is None:
        modality = infer_modality(x_shape)
    if modality not in MODALITIES:
        raise DataError(f"Unknown modality {modality!r}: use one of {', '.join(MODALITIES)}.")
    for s in splits.values():
        if not s.in_memory:
            continue
        if isinstance(s.x, Tensor) and modality == "image" and s.x.ndim == 3:
            s.x = s.x[:, None]  # (N, H, W) -> (N, 1, H, W)
        if isinstance(s.x, Tensor) and modality == "sequence" and s.x.ndim == 2:
            s.x = s.x[:, None]  # (N, L) -> (N, 1, L)
        s.y = task_obj.prepare_targets(s.y, loss=loss)  # type: ignore[arg-type]
    task_obj.validate(splits)
    return Data(
        splits, task=task_obj, modality=modality, name=name, feature_names=feature_names, meta=meta
    )
