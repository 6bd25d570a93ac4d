"""Data sources: torch Datasets, image folders and CSV tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError

# Data sets below this many bytes (as float32 tensors) are loaded into memory; larger ones stream.
IN_MEMORY_BYTES = 2 * 1024**3
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_FOLDERS = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}


def from_datasets(
    train: Any,
    valid: Any = None,
    test: Any = None,
    *,
    valid_fraction: float = 0.2,
    seed: int = 0,
    task: str | None = None,
    modality: str | None = None,
    classes: list[str] | None = None,
    name: str = "datasets",
    in_memory: bool | None = None,
) -> Data:
    """Data from torch `Dataset`s yielding (x, y). Without `valid`, a seeded stratified
    fraction of `train` becomes valid. Small sets are materialised into tensors; pass
    ``in_memory=False`` to stream them through a DataLoader instead."""
    if train is None or len(train) == 0:
        raise DataError("The training Dataset is empty: it must yield at least one (x, y) pair.")
    x0, _ = _first_pair(train)
    total = sum(len(d) for d in (train, valid, test) if d is not None)
    if in_memory is None:
        in_memory = total * x0.numel() * 4 <= IN_MEMORY_BYTES
    parts = {"train": train, "valid": valid, "test": test}
    if in_memory:
        tensors = {k: _materialise(d, k) for k, d in parts.items() if d is not None}
        if valid is None:
            x, y = tensors.pop("train")
            labels = None if torch.is_floating_point(y) and task != "classification" else y.numpy()
            idx = split_indices(len(x), labels, valid=valid_fraction, test=0.0, seed=seed)
            tensors["train"] = (x[idx["train"]], y[idx["train"]])
            tensors["valid"] = (x[idx["valid"]], y[idx["valid"]])
        splits = {k: Split(x, y, index=torch.arange(len(x))) for k, (x, y) in tensors.items()}
    else:
        if valid is None:
            from torch.utils.data import Subset

            gen = torch.Generator().manual_seed(seed)
            perm = torch.randperm(len(train), generator=gen)
            n_valid = max(1, round(valid_fraction * len(train)))
            parts["valid"] = Subset(train, perm[:n_valid].tolist())
            parts["train"] = Subset(train, perm[n_valid:].tolist())
        splits = {k: Split(dataset=d) for k, d in parts.items() if d is not None}
        if task is None:
            y_probe = splits["train"].tensors(max_samples=2048)[1]
            task = "regression" if torch.is_floating_point(y_probe) else "classification"
        _attach_probe_targets(splits)
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality=modality,
        classes=classes,
        feature_names=None,
        name=name,
        meta={"source": name, "in_memory": bool(in_memory)},
    )


def _first_pair(ds: Any) -> tuple[Tensor, Tensor]:
    try:
        item = ds[0]
        x, y = item[0], item[1]
    except Exception as e:
        raise DataError(
            f"The Dataset's first item could not be read as (x, y): {e}. Each item must be a pair."
        ) from e
    return torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y))


def _materialise(ds: Any, name: str) -> tuple[Tensor, Tensor]:
    from torch.utils.data import DataLoader

    if len(ds) == 0:
        raise DataError(f"The {name} Dataset is empty: it must yield at least one (x, y) pair.")
    xs, ys = [], []
    for xb, yb in DataLoader(ds, batch_size=512):
        xs.append(torch.as_tensor(xb))
        ys.append(torch.as_tensor(yb))
    x, y = torch.cat(xs), torch.cat(ys)
    return (x.float() if torch.is_floating_point(x) else x), y


def _attach_probe_targets(splits: dict[str, Split]) -> None:
    # Streamed splits keep their Dataset; targets are small, so hold them in memory for
    # task inference, stratification checks and baselines.
    for s in splits.values():
        s.targets()


# -- image folders -------------------------------------------------------------------------------


def _image_files(root: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / c).rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(i)
    return files, labels, classes


def _split_roots(root: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        for n in names:
            if (root / n).is_dir():
                found[split] = root / n
                break
    return found if "train" in found else {}


def from_folder(
    path: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    grayscale: bool | None = None,
    skip_corrupt: bool = False,
    in_memory: bool | None = None,
    name: str | None = None,
) -> Data:
    """Images in one sub-folder per class (torchvision ImageFolder layout).

    If the folder holds ``train/`` (and ``valid/`` or ``val/``, ``test/``) sub-folders, those are
    the splits; otherwise the images are split seeded and stratified. Every image is resized to
    `size` (default: the most common size, capped at 64 pixels on the long side) and scaled to
    zero mean and unit variance per channel with training statistics. Folders that fit in 2 GiB
    as float32 tensors are read into memory once; larger ones (or ``in_memory=False``) stream
    from disk through a DataLoader, each image decoded and transformed (torchvision transforms
    v2) when it is used.

    Raises:
        DataError: missing or empty folder, fewer than two classes, an unreadable image (unless
            ``skip_corrupt=True``, which records skipped files in ``data.meta["corrupt_files"]``).
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"Folder {str(root)!r} does not exist: check the path.")
    if not root.is_dir():
        raise DataError(
            f"{str(root)!r} is not a folder: pass a folder with one sub-folder per class."
        )
    roots = _split_roots(root) or {"all": root}
    listed = {k: _image_files(r) for k, r in roots.items()}
    classes = listed["train" if "train" in listed else "all"][2]
    if len(classes) == 0 or sum(len(v[0]) for v in listed.values()) == 0:
        raise DataError(
            f"No images found in {str(root)!r}: put images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            "in one sub-folder per class, e.g. cats/1.jpg, dogs/2.jpg."
        )
    for k, (_, _, cls) in listed.items():
        if cls != classes:
            raise DataError(
                f"The {k} folder has classes {cls} but train has {classes}: every split needs the "
                "same class sub-folders."
            )
    all_files = [f for v in listed.values() for f in v[0]]
    target_size, mode = _choose_size_and_mode(all_files, size, grayscale)
    channels = 1 if mode == "L" else 3
    if in_memory is None:
        in_memory = (
            len(all_files) * channels * target_size[0] * target_size[1] * 4 <= IN_MEMORY_BYTES
        )
    # Split the file lists first (seeded, stratified), then read or stream each split.
    source_index = {k: torch.arange(len(v[0])) for k, v in listed.items()}
    if "all" in listed:
        files, labels, _ = listed.pop("all")
        parts = split_indices(
            len(files), np.asarray(labels), valid=valid, test=test, train_dev=train_dev, seed=seed
        )
        listed = {
            k: ([files[j] for j in i.tolist()], [labels[j] for j in i.tolist()], classes)
            for k, i in parts.items()
        }
        source_index = dict(parts)
    if "valid" not in listed:
        raise DataError(
            f"{str(root)!r} has a train/ folder but no valid/ (or val/) folder beside it."
        )
    corrupt: list[str] = []
    if in_memory:
        loaded = {}
        for k, (files, labels, _) in listed.items():
            x, keep = _load_images(files, target_size, mode, skip_corrupt, corrupt)
            y = torch.tensor(labels, dtype=torch.long)[keep]
            loaded[k] = (x, y, source_index[k][keep], [str(files[i]) for i in keep.tolist()])
        mean = loaded["train"][0].mean(dim=(0, 2, 3), keepdim=True)
        std = loaded["train"][0].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        splits = {k: Split((x - mean) / std, y, index=i) for k, (x, y, i, _) in loaded.items()}
        split_files = {k: f for k, (_, _, _, f) in loaded.items()}
    else:
        splits, split_files, mean, std = _stream_splits(
            listed, source_index, target_size, mode, skip_corrupt, corrupt, seed
        )
    meta = {
        "source": str(root),
        "files": split_files,
        "image_size": list(target_size),
        "mode": mode,
        "normalize": {"mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist()},
        "corrupt_files": corrupt,
        "in_memory": bool(in_memory),
    }
    return _assemble(
        splits,
        task="classification",
        loss=None,
        modality="image",
        classes=classes,
        feature_names=None,
        name=name or root.name,
        meta=meta,
    )


# Per-channel statistics of a streamed folder come from this many training images.
STATS_SAMPLE = 1000


class ImageFiles(Dataset):
    """Images decoded from files on each access: ``(C, H, W)`` float tensors, normalised."""

    def __init__(
        self,
        files: list[str],
        labels: list[int],
        hw: tuple[int, int],
        mode: str,
        mean: Tensor,
        std: Tensor,
    ) -> None:
        from torchvision.transforms import v2

        self.files, self.labels, self.mode = files, labels, mode
        self.transform = v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(hw, antialias=True),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean.reshape(-1).tolist(), std.reshape(-1).tolist()),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        from PIL import Image

        try:
            with Image.open(self.files[i]) as im:
                image = im.convert(self.mode)
        except Exception as e:
            raise DataError(
                f"Cannot read image {self.files[i]!r} ({type(e).__name__}: {e}): remove or "
                "replace the file."
            ) from e
        return self.transform(image), self.labels[i]

    def __repr__(self) -> str:
        return (
            f"ImageFiles({len(self.files)} files, first {self.files[0] if self.files else None!r})"
        )


def _readable_header(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:
        return False


def _stream_splits(
    listed: dict[str, tuple[list[Path], list[int], list[str]]],
    source_index: dict[str, Tensor],
    hw: tuple[int, int],
    mode: str,
    skip_corrupt: bool,
    corrupt: list[str],
    seed: int,
) -> tuple[dict[str, Split], dict[str, list[str]], Tensor, Tensor]:
    """Streamed splits of image files; statistics from a sample of the training images."""
    from nnrecipe.progress import progress_iter
    from nnrecipe.threads import cpu_count

    kept: dict[str, tuple[list[str], list[int], Tensor]] = {}
    for k, (files, labels, _) in listed.items():
        if skip_corrupt:  # headers only: a file truncated after its header fails when read
            ok = [_readable_header(f) for f in progress_iter(files, f"checking {k} images")]
            corrupt.extend(str(f) for f, good in zip(files, ok, strict=True) if not good)
        else:
            ok = [True] * len(files)
        keep = torch.tensor([i for i, good in enumerate(ok) if good], dtype=torch.long)
        kept[k] = (
            [str(files[i]) for i in keep.tolist()],
            [labels[i] for i in keep.tolist()],
            source_index[k][keep],
        )
    gen = torch.Generator().manual_seed(seed)
    train_files = kept["train"][0]
    pick = torch.randperm(len(train_files), generator=gen)[:STATS_SAMPLE].tolist()
    # Unreadable files are left out of the statistics; reading them later names them.
    sample, _ = _load_images([Path(train_files[i]) for i in pick], hw, mode, True, [])
    mean = sample.mean(dim=(0, 2, 3), keepdim=True)
    std = sample.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    workers = max(0, min(4, cpu_count() - 1))
    splits = {}
    for k, (files, labels, index) in kept.items():
        split = Split(
            dataset=ImageFiles(files, labels, hw, mode, mean, std), index=index, num_workers=workers
        )
        split.y = torch.tensor(labels, dtype=torch.long)  # targets are known without decoding
        splits[k] = split
    return splits, {k: v[0] for k, v in kept.items()}, mean, std


def _choose_size_and_mode(
    files: list[Path], size: int | tuple[int, int] | None, grayscale: bool | None
) -> tuple[tuple[int, int], str]:
    from collections import Counter

    from PIL import Image

    sizes, modes = Counter(), Counter()
    for f in files[:200]:
        try:
            with Image.open(f) as im:
                sizes[im.size] += 1
                modes[im.mode] += 1
        except Exception:
            continue
    if grayscale is None:
        grayscale = bool(modes) and all(m in ("L", "1", "I", "I;16", "F") for m in modes)
    mode = "L" if grayscale else "RGB"
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        return (int(hw[0]), int(hw[1])), mode
    w, h = sizes.most_common(1)[0][0] if sizes else (64, 64)
    scale = min(1.0, 64 / max(w, h))
    return (max(1, round(h * scale)), max(1, round(w * scale))), mode


def _load_images(
    files: list[Path], hw: tuple[int, int], mode: str, skip_corrupt: bool, corrupt: list[str]
) -> tuple[Tensor, Tensor]:
    from PIL import Image

    from nnrecipe.progress import progress_iter

    channels = 1 if mode == "L" else 3
    x = torch.empty((len(files), channels, hw[0], hw[1]), dtype=torch.float32)
    keep = []
    for i, f in enumerate(progress_iter(files, "reading images")):
        try:
            with Image.open(f) as im:
                im.load()
                arr = np.asarray(im.convert(mode).resize((hw[1], hw[0]), Image.BILINEAR))
        except Exception as e:
            if not skip_corrupt:
                raise DataError(
                    f"Cannot read image {str(f)!r} ({type(e).__name__}: {e}): remove or replace the "
                    "file, or pass skip_corrupt=True to skip unreadable images."
                ) from e
            corrupt.append(str(f))
            continue
        arr = arr.reshape(hw[0], hw[1], channels).transpose(2, 0, 1)
        x[i] = torch.from_numpy(arr.astype(np.float32) / 255.0)
        keep.append(i)
    keep_t = torch.tensor(keep, dtype=torch.long)
    return x[keep_t], keep_t


# -- CSV tables ----------------------------------------------------------------------------------

# Integer target columns with at most this many distinct values are classification targets.
MAX_INT_CLASSES = 20
# Categorical columns with at most this many levels are one-hot encoded; more get integer codes.
MAX_ONE_HOT = 30


def from_csv(
    path: str | Path,
    *,
    target: str,
    task: str | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    name: str | None = None,
) -> Data:
    """A CSV table with a `target` column.

    Text, boolean and categorical columns are one-hot encoded (integer codes above 30 levels);
    numeric columns are standardised with training statistics only, missing values filled with
    the training median (plus a missing-indicator column). A text or small-integer target is
    classification, a float target regression, unless `task` says otherwise.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"CSV file {str(p)!r} does not exist: check the path.")
    try:
        df = pd.read_csv(p)
    except Exception as e:
        raise DataError(f"Cannot read {str(p)!r} as CSV ({type(e).__name__}: {e}).") from e
    if df.empty:
        raise DataError(f"{str(p)!r} has no rows: the table needs at least one sample per split.")
    if target not in df.columns:
        cols = ", ".join(map(str, df.columns[:20]))
        raise DataError(f"{str(p)!r} has no column {target!r}: its columns are {cols}.")
    ycol = df[target]
    if ycol.isna().any():
        n = int(ycol.isna().sum())
        raise DataError(
            f"The target column {target!r} has {n} missing values: drop those rows or fill them."
        )
    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{str(p)!r} has only the target column: there are no input features.")
    if task is None:
        numeric = pd.api.types.is_numeric_dtype(ycol) and not pd.api.types.is_bool_dtype(ycol)
        is_int = numeric and np.all(np.mod(ycol.to_numpy(dtype=float), 1) == 0)
        task = (
            "classification"
            if not numeric or (is_int and ycol.nunique() <= MAX_INT_CLASSES)
            else "regression"
        )
    classes = None
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(ycol):
            raise DataError(f"Target {target!r} is not numeric: regression needs numbers.")
        y = torch.tensor(ycol.to_numpy(dtype=np.float32))
        labels = None
    else:
        codes, uniques = pd.factorize(ycol, sort=True)
        classes = [str(u) for u in uniques]
        y = torch.tensor(codes, dtype=torch.long)
        labels = codes
    parts = split_indices(len(df), labels, valid=valid, test=test, train_dev=train_dev, seed=seed)
    encoder = TableEncoder.fit(features.iloc[parts["train"].numpy()])
    x = torch.from_numpy(encoder.transform(features))
    splits = {k: Split(x[i], y[i], index=i) for k, i in parts.items()}
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality="tabular",
        classes=classes,
        feature_names=encoder.output_names,
        name=name or p.stem,
        meta={"source": str(p), "target": target, "columns": encoder.describe(), "seed": seed},
    )


class TableEncoder:
    """Column-wise encoding fitted on training rows only (no leakage of valid/test statistics)."""

    def __init__(
        self, numeric: dict[str, tuple[float, float, float]], categorical: dict[str, list[str]]
    ):
        self.numeric = numeric  # column -> (median, mean, std)
        self.categorical = categorical  # column -> levels
        self.output_names: list[str] = []
        for c in numeric:
            self.output_names += [c, f"{c}__missing"]
        for c, levels in categorical.items():
            self.output_names += (
                [f"{c}={lv}" for lv in levels] if len(levels) <= MAX_ONE_HOT else [c]
            )

    @classmethod
    def fit(cls, df: Any) -> TableEncoder:
        import pandas as pd

        numeric, categorical = {}, {}
        for c in df.columns:
            col = df[c]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                v = col.to_numpy(dtype=float)
                med = float(np.nanmedian(v)) if np.isfinite(v).any() else 0.0
                filled = np.where(np.isfinite(v), v, med)
                numeric[str(c)] = (med, float(filled.mean()), float(filled.std()) or 1.0)
            else:
                categorical[str(c)] = sorted(col.astype(str).unique().tolist())
        return cls(numeric, categorical)

    def transform(self, df: Any) -> np.ndarray:
        cols = []
        for c, (med, mean, std) in self.numeric.items():
            v = df[c].to_numpy(dtype=float)
            missing = ~np.isfinite(v)
            cols += [(np.where(missing, med, v) - mean) / std, missing.astype(float)]
        for c, levels in self.categorical.items():
            v = df[c].astype(str).to_numpy()
            if len(levels) <= MAX_ONE_HOT:
                cols += [(v == lv).astype(float) for lv in levels]
            else:
                lookup = {lv: i for i, lv in enumerate(levels)}
                cols.append(np.array([lookup.get(s, -1) for s in v], dtype=float))
        return np.stack(cols, axis=1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": {c: len(v) for c, v in self.categorical.items()},
        }
