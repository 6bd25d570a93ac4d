"""Built-in segmentation data sets, offline: `shapes` (synthetic) and `nuclei` (microscopy).

- ``shapes``: generated in a second or two from a fixed seed: 800 RGB images of 32x32 pixels,
  each with one or two shapes (circle, square, triangle; random size, rotation and colour;
  never overlapping or touching) on a textured, noisy background (a random colour, two plane
  waves, pixel noise). Four classes: background, circle, square, triangle. Split at random
  (seeded, stratified by each image's main shape) into train / valid / test.
- ``nuclei``: the 512x512 fluorescence microscopy image of cell nuclei and its hand-made
  instance annotation that ship with the `stardist` package (``stardist/data/images/img2d.tif``
  and ``mask2d.tif``, Schmidt et al. 2018). Only the two files are read (``pip install
  --no-deps stardist``); no stardist code runs. Every nucleus becomes class 1 (background 0).
  The image is cut into a 4x4 grid of 128x128 regions and whole regions are assigned to
  train / valid / test (seeded), so no held-out pixel is ever seen in training: training tiles
  are 64x64 with stride 32 lying entirely in training regions, valid and test tiles are the
  non-overlapping 64x64 tiles of their regions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError
from nnrecipe.tasks.segmentation import Segmentation

SHAPE_CLASSES = ["background", "circle", "square", "triangle"]
SHAPES_N = 800
SHAPES_SIZE = 32
SHAPES_MAX = 2  # shapes per image, at most
SHAPES_RADIUS = (0.2, 0.3)  # of the image side


def _standardize_splits(splits: dict[str, Split]) -> dict[str, list[float]]:
    """Zero mean, unit variance per channel with training statistics, in place."""
    x = splits["train"].x
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # type: ignore[union-attr]
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)  # type: ignore[union-attr]
    for s in splits.values():
        s.x = (s.x - mean) / std
    return {"mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist()}


# -- shapes --------------------------------------------------------------------------------------
def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(3, H, W) texture: a colour, two random plane waves, stripes of random period, noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = rng.uniform(0.2, 0.8, (3, 1, 1)).astype(np.float32)
    for _ in range(2):
        fx, fy = rng.uniform(-4, 4, 2)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(0.05, 0.2, (3, 1, 1))
        img = img + amp * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)[None]
    return img + rng.normal(0, 0.08, (3, size, size)).astype(np.float32)


def _shape_mask(rng: np.random.Generator, shape_id: int, size: int) -> np.ndarray:
    """(H, W) boolean mask of one circle (1), square (2) or triangle (3)."""
    r = rng.uniform(SHAPES_RADIUS[0], SHAPES_RADIUS[1]) * size
    cy, cx = rng.uniform(r * 0.7, size - r * 0.7, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy, dx = yy - cy, xx - cx
    theta = rng.uniform(0, 2 * np.pi)
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    if shape_id == 1:
        return dx**2 + dy**2 <= r**2
    if shape_id == 2:
        half = r * 0.85  # about the same area as the circle
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # Equilateral triangle of circumradius 1.3 r: inside the three edges' half-planes.
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        a = theta + 2 * np.pi * k / 3
        inside &= np.cos(a) * dx + np.sin(a) * dy <= 0.65 * r
    return inside


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def make_shapes(n: int = 800, *, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, size, size)`` float32 in about [0, 1] and masks ``(n, size, size)`` int64.

    One to `SHAPES_MAX` shapes per image, placed so that they neither overlap nor touch (a
    placement that would is redrawn, up to 20 times, then the shape is left out)."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, 3, size, size), dtype=np.float32)
    y = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        img = _background(rng, size)
        mask = np.zeros((size, size), dtype=np.int64)
        for _ in range(rng.integers(1, SHAPES_MAX + 1)):
            shape_id = int(rng.integers(1, 4))
            for _attempt in range(20):
                inside = _shape_mask(rng, shape_id, size)
                if not (_dilate(inside) & (mask > 0)).any():
                    break
            else:
                continue
            colour = rng.uniform(0, 1, (3, 1, 1)).astype(np.float32)
            # Keep every shape visible: push its colour away from the background's mean.
            bg = img.mean(axis=(1, 2), keepdims=True)
            colour = np.where(np.abs(colour - bg) < 0.25, (colour + 0.5) % 1.0, colour)
            texture = rng.normal(0, 0.08, (3, size, size)).astype(np.float32)
            img = np.where(inside[None], colour + texture, img)
            mask[inside] = shape_id
        x[i], y[i] = img, mask
    return x, y


def shapes(
    *, valid: float = 0.2, test: float = 0.1, train_dev: float = 0.0, seed: int = 0, **_: Any
) -> Data:
    """The synthetic `shapes` set (see the module docstring); the images do not depend on
    `seed` (always generated with seed 0), the split does."""
    x, y = make_shapes(SHAPES_N, size=SHAPES_SIZE, seed=0)
    task = Segmentation(4, SHAPE_CLASSES)
    parts = split_indices(
        len(x),
        task.stratify(torch.from_numpy(y)),
        valid=valid,
        test=test,
        train_dev=train_dev,
        seed=seed,
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    splits = {k: Split(xt[i], yt[i], index=i) for k, i in parts.items()}
    norm = _standardize_splits(splits)
    meta = {"source": f"nnrecipe.data.seg_builtin.make_shapes({SHAPES_N}, size={SHAPES_SIZE})"}
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality="image",
        classes=SHAPE_CLASSES,
        feature_names=None,
        name="shapes",
        meta={**meta, "seed": seed, "normalize": norm},
    )


# -- nuclei --------------------------------------------------------------------------------------
REGION = 128
TILE = 64
TRAIN_STRIDE = 32


def stardist_files() -> tuple[Path, Path]:
    """Paths of the image and its mask inside the installed `stardist` package."""
    spec = importlib.util.find_spec("stardist")
    hint = "install the files with `pip install --no-deps stardist` (no network is used after)"
    if spec is None or spec.origin is None:
        raise DataError(f"The 'nuclei' data set reads its image from the stardist package: {hint}.")
    folder = Path(spec.origin).parent / "data" / "images"
    image, mask = folder / "img2d.tif", folder / "mask2d.tif"
    for f in (image, mask):
        if not f.is_file():
            raise DataError(f"The 'nuclei' data set needs {f}, which is missing: {hint}.")
    return image, mask


def _read_tif(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except Exception as e:
        raise DataError(
            f"Cannot read {str(path)!r} ({type(e).__name__}: {e}): reinstall it with "
            "`pip install --force-reinstall --no-deps stardist`."
        ) from e


def _region_split(
    rows: int, cols: int, *, valid: float, test: float, train_dev: float, seed: int
) -> dict[str, set[tuple[int, int]]]:
    """Regions (row, col) of the grid for each split, seeded; at least one for valid."""
    n = rows * cols
    order = np.random.default_rng(seed).permutation(n)
    counts = {
        "valid": max(1, round(valid * n)),
        "test": round(test * n),
        "train_dev": round(train_dev * n),
    }
    if sum(counts.values()) >= n:
        raise DataError(
            f"valid + test + train_dev = {valid + test + train_dev:.2f} leaves no region of the "
            f"{rows}x{cols} grid for training: use smaller fractions."
        )
    out: dict[str, set[tuple[int, int]]] = {}
    start = 0
    for name, c in counts.items():
        if c:
            out[name] = {divmod(int(r), cols) for r in order[start : start + c]}
            start += c
    out["train"] = {divmod(int(r), cols) for r in order[start:]}
    return out


def _tiles(
    image: np.ndarray, mask: np.ndarray, regions: set[tuple[int, int]], stride: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, int]]]:
    """Tiles whose every pixel lies in `regions`, with their top-left corners."""
    h, w = image.shape
    xs, ys, corners = [], [], []
    for top in range(0, h - TILE + 1, stride):
        for left in range(0, w - TILE + 1, stride):
            covered = {
                (r, c)
                for r in range(top // REGION, (top + TILE - 1) // REGION + 1)
                for c in range(left // REGION, (left + TILE - 1) // REGION + 1)
            }
            if covered <= regions:
                xs.append(image[top : top + TILE, left : left + TILE])
                ys.append(mask[top : top + TILE, left : left + TILE])
                corners.append((top, left))
    return xs, ys, corners


def nuclei(
    *, valid: float = 0.2, test: float = 0.1, train_dev: float = 0.0, seed: int = 0, **_: Any
) -> Data:
    """The `nuclei` set (see the module docstring): 64x64 tiles, classes background / nucleus."""
    image_path, mask_path = stardist_files()
    image = _read_tif(image_path).astype(np.float32)
    instances = _read_tif(mask_path)
    if image.shape != instances.shape or image.ndim != 2:
        raise DataError(
            f"{image_path.name} is {image.shape} but {mask_path.name} is {instances.shape}: "
            "reinstall them with `pip install --force-reinstall --no-deps stardist`."
        )
    mask = (instances > 0).astype(np.int64)  # instance ids > 0 -> class 1 (nucleus)
    rows, cols = image.shape[0] // REGION, image.shape[1] // REGION
    regions = _region_split(rows, cols, valid=valid, test=test, train_dev=train_dev, seed=seed)
    splits: dict[str, Split] = {}
    corners: dict[str, list[list[int]]] = {}
    for name, where in regions.items():
        stride = TRAIN_STRIDE if name == "train" else TILE
        xs, ys, tl = _tiles(image, mask, where, stride)
        if not xs:
            raise DataError(f"No {name} tile fits in its regions: use a smaller {name} fraction.")
        x = torch.from_numpy(np.stack(xs))[:, None]  # (N, 1, 64, 64)
        splits[name] = Split(x, torch.from_numpy(np.stack(ys)), index=torch.arange(len(xs)))
        corners[name] = [list(c) for c in tl]
    norm = _standardize_splits(splits)
    meta = {
        "source": f"{image_path} and {mask_path} (stardist package data, Schmidt et al. 2018)",
        "seed": seed,
        "normalize": norm,
        "regions": {k: sorted(list(r) for r in v) for k, v in regions.items()},
        "tile_corners": corners,
    }
    order = ("train", "valid", "test", "train_dev")
    return _assemble(
        {k: splits[k] for k in order if k in splits},
        task=Segmentation(2, ["background", "nucleus"]),
        loss=None,
        modality="image",
        classes=["background", "nucleus"],
        feature_names=None,
        name="nuclei",
        meta=meta,
    )
