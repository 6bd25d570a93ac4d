"""Image folders (torchvision ImageFolder layout): read into memory, or streamed from disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.sources import IN_MEMORY_BYTES
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError
from nnrecipe.progress import progress_iter
from nnrecipe.threads import cpu_count

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_FOLDERS = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}


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
    corrupt: list[str] = []
    # Read every file (in memory) or check its header (streamed) first, so that unreadable files
    # are dropped before the seeded, stratified split.
    kept: dict[str, tuple[Tensor, list[str], list[int], Tensor | None]] = {}
    for k, (files, labels, _) in listed.items():
        if in_memory:
            x, keep = _load_images(files, target_size, mode, skip_corrupt, corrupt)
        else:
            x, keep = None, _readable(files, skip_corrupt, corrupt, k)
        idx = keep.tolist()
        kept[k] = (keep, [str(files[i]) for i in idx], [labels[i] for i in idx], x)
    if sum(len(v[1]) for v in kept.values()) == 0:
        raise DataError(f"None of the images in {str(root)!r} can be read: check the files.")
    if "all" in kept:
        index, files, labels, x = kept.pop("all")
        parts = split_indices(
            len(files), np.asarray(labels), valid=valid, test=test, train_dev=train_dev, seed=seed
        )
        kept = {
            k: (
                index[i],
                [files[j] for j in i.tolist()],
                [labels[j] for j in i.tolist()],
                None if x is None else x[i],
            )
            for k, i in parts.items()
        }
    if "valid" not in kept:
        raise DataError(
            f"{str(root)!r} has a train/ folder but no valid/ (or val/) folder beside it."
        )
    if in_memory:
        x_train = kept["train"][3]
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        splits = {
            k: Split((x - mean) / std, torch.tensor(labels, dtype=torch.long), index=index)
            for k, (index, _, labels, x) in kept.items()
        }
    else:
        splits, mean, std = _stream_splits(kept, target_size, mode, seed)
    split_files = {k: v[1] for k, v in kept.items()}
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


def _readable(files: list[Path], skip_corrupt: bool, corrupt: list[str], split: str) -> Tensor:
    """Positions of the files to stream. With `skip_corrupt`, files whose header cannot be read
    are recorded in `corrupt` and left out (a file truncated after its header fails when read)."""
    from PIL import Image

    if not skip_corrupt:
        return torch.arange(len(files))
    keep = []
    for i, f in enumerate(progress_iter(files, f"checking {split} images")):
        try:
            with Image.open(f) as im:
                im.verify()
            keep.append(i)
        except Exception:
            corrupt.append(str(f))
    return torch.tensor(keep, dtype=torch.long)


def _stream_splits(
    kept: dict[str, tuple[Tensor, list[str], list[int], Tensor | None]],
    hw: tuple[int, int],
    mode: str,
    seed: int,
) -> tuple[dict[str, Split], Tensor, Tensor]:
    """Streamed splits of image files; statistics from a sample of the training images."""

    train_files = kept["train"][1]
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train_files), generator=gen)[:STATS_SAMPLE].tolist()
    # Unreadable files are left out of the statistics; reading them later names them.
    sample, _ = _load_images([Path(train_files[i]) for i in pick], hw, mode, True, [])
    mean = sample.mean(dim=(0, 2, 3), keepdim=True)
    std = sample.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    workers = max(0, min(4, cpu_count() - 1))
    splits = {}
    for k, (index, files, labels, _) in kept.items():
        dataset = ImageFiles(files, labels, hw, mode, mean, std)
        split = Split(dataset=dataset, index=index, num_workers=workers)
        split.y = torch.tensor(labels, dtype=torch.long)  # targets are known without decoding
        splits[k] = split
    return splits, mean, std


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
