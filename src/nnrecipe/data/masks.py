"""Images with segmentation masks: two folders, files paired by stem.

``images/cat1.jpg`` goes with ``masks/cat1.png``. A mask is a PNG (or any single-channel image)
of integer class indices 0..K-1, or 0/255 for a binary mask (read as 0/1). Images are resized
bilinearly; masks always with nearest-neighbour, because interpolating class indices invents
classes along the borders (half-way between 0 and 2 is 1) and blurs 0/255 masks into values that
are no class at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.folder import IMAGE_SUFFIXES, _choose_size_and_mode
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError
from nnrecipe.tasks.segmentation import Segmentation

# Modes PIL gives single-channel masks: 1-bit, 8-bit grey or palette, 16/32-bit integers.
MASK_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N")


def _listing(folder: Path, what: str) -> dict[str, Path]:
    if not folder.exists():
        raise DataError(f"The {what} folder {str(folder)!r} does not exist: check the path.")
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is not a folder: pass the folder holding the {what}.")
    files: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if not (f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES):
            continue
        if f.stem in files:
            raise DataError(
                f"{files[f.stem].name} and {f.name} in {str(folder)!r} share the stem "
                f"{f.stem!r}: keep one file per stem so that images and masks pair up."
            )
        files[f.stem] = f
    if not files:
        raise DataError(
            f"No images found in the {what} folder {str(folder)!r}: put "
            f"{', '.join(sorted(IMAGE_SUFFIXES))} files in it."
        )
    return files


def _pair(
    images: dict[str, Path], masks: dict[str, Path], image_dir: Path, mask_dir: Path
) -> list[tuple[Path, Path]]:
    lonely_images = sorted(set(images) - set(masks))
    if lonely_images:
        names = ", ".join(images[s].name for s in lonely_images[:3])
        more = ", ..." if len(lonely_images) > 3 else ""
        raise DataError(
            f"{len(lonely_images)} image(s) in {str(image_dir)!r} have no mask of the same stem "
            f"in {str(mask_dir)!r} ({names}{more}): add {lonely_images[0]}.png to the masks "
            "or remove the image."
        )
    lonely_masks = sorted(set(masks) - set(images))
    if lonely_masks:
        names = ", ".join(masks[s].name for s in lonely_masks[:3])
        more = ", ..." if len(lonely_masks) > 3 else ""
        raise DataError(
            f"{len(lonely_masks)} mask(s) in {str(mask_dir)!r} have no image of the same stem "
            f"in {str(image_dir)!r} ({names}{more}): name each mask like its image (cat1.jpg "
            "with cat1.png) or remove it."
        )
    return [(images[s], masks[s]) for s in sorted(images)]


def read_mask(path: Path) -> np.ndarray:
    """(H, W) int64 class indices of one mask file; a grey RGB(A) mask is read as one channel."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in MASK_MODES:
                arr = np.asarray(im)
            elif im.mode in ("RGB", "RGBA", "LA"):
                rgb = np.asarray(im)[..., :3] if im.mode != "LA" else np.asarray(im)[..., :1]
                if not (rgb == rgb[..., :1]).all():
                    raise DataError(
                        f"Mask {str(path)!r} is a colour image: save masks as single-channel "
                        "PNGs of class indices 0..K-1 (or 0/255 for binary masks)."
                    )
                arr = rgb[..., 0]
            else:
                raise DataError(
                    f"Mask {str(path)!r} has PIL mode {im.mode!r}: save masks as single-channel "
                    "PNGs of class indices 0..K-1 (or 0/255 for binary masks)."
                )
    except DataError:
        raise
    except Exception as e:
        raise DataError(
            f"Cannot read mask {str(path)!r} ({type(e).__name__}: {e}): remove or replace it."
        ) from e
    return np.asarray(arr).astype(np.int64)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception as e:
        raise DataError(
            f"Cannot read image {str(path)!r} ({type(e).__name__}: {e}): remove or replace it."
        ) from e


def _read_image(path: Path, hw: tuple[int, int], mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert(mode).resize((hw[1], hw[0]), Image.BILINEAR))
    channels = 1 if mode == "L" else 3
    return arr.reshape(hw[0], hw[1], channels).transpose(2, 0, 1).astype(np.float32) / 255.0


def resize_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of (H, W) class indices to `hw`; never interpolates labels."""
    from PIL import Image

    if mask.shape == hw:
        return mask
    im = Image.fromarray(mask.astype(np.int32), mode="I")
    return np.asarray(im.resize((hw[1], hw[0]), Image.NEAREST)).astype(np.int64)


def _class_values(
    masks: list[np.ndarray], files: list[Path], classes: list[str] | None
) -> tuple[list[np.ndarray], int]:
    """Masks with 0/255 binary masks mapped to 0/1, and the number of classes; a mask value
    outside the classes raises naming the file."""
    values = set()
    for m in masks:
        values.update(np.unique(m).tolist())
    if values <= {0, 255} and 255 in values and (classes is None or len(classes) == 2):
        return [(m == 255).astype(np.int64) for m in masks], 2
    k = len(classes) if classes is not None else max(int(max(values)) + 1, 2)
    for m, f in zip(masks, files, strict=True):
        bad = m[(m < 0) | (m >= k)]
        if bad.size:
            expected = f"classes 0..{k - 1}" + (f" ({', '.join(classes)})" if classes else "")
            raise DataError(
                f"Mask {str(f)!r} holds the value {int(bad[0])}, outside the {expected}: "
                "masks must hold class indices 0..K-1 (or only 0 and 255 for binary masks)"
                + ("; pass classes=[...] naming every class." if classes else ".")
            )
    if classes is None and 255 in values:
        raise DataError(
            f"Masks hold 255 besides other values ({sorted(values)[:6]}): 255 is neither a binary "
            "mask's foreground (those hold only 0 and 255) nor a class index here: map it to a "
            "class or pass classes=[...] naming all 256 classes."
        )
    return masks, k


def from_mask_folder(
    images: str | Path,
    masks: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    valid: float = 0.2,
    test: float = 0.1,
    train_dev: float = 0.0,
    seed: int = 0,
    grayscale: bool | None = None,
    classes: list[str] | None = None,
    name: str | None = None,
) -> Data:
    """Images and their masks (segmentation), paired by file stem, split seeded.

    Every image is resized to `size` (default: the most common size, capped at 64 pixels on the
    long side) bilinearly, its mask with nearest-neighbour; images are scaled to zero mean and
    unit variance per channel with training statistics. Inputs are ``(N, C, H, W)`` float,
    targets ``(N, H, W)`` long class indices.

    Args:
        images: folder of images.
        masks: folder of masks with the same stems (``a.jpg`` ↔ ``a.png``).
        classes: class names, background first (default ``"0"``..``"K-1"``, or
            ``["background", "foreground"]`` for 0/255 masks).

    Raises:
        DataError: an image without a mask or a mask without an image, a mask whose size differs
            from its image's, a mask value outside the classes, an unreadable file.
    """
    image_files = _listing(Path(images), "images")
    mask_files = _listing(Path(masks), "masks")
    pairs = _pair(image_files, mask_files, Path(images), Path(masks))
    raw_masks = []
    for image_path, mask_path in pairs:
        mask = read_mask(mask_path)
        w, h = _image_size(image_path)
        if mask.shape != (h, w):
            raise DataError(
                f"Mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]} pixels but image "
                f"{image_path.name} is {w}x{h}: a mask must have its image's size (resize the "
                "mask with nearest-neighbour, never bilinear)."
            )
        raw_masks.append(mask)
    mask_list, k = _class_values(raw_masks, [m for _, m in pairs], classes)
    if classes is None:
        classes = ["background", "foreground"] if k == 2 else [str(i) for i in range(k)]
    hw, mode = _choose_size_and_mode([p for p, _ in pairs], size, grayscale)
    x = torch.from_numpy(np.stack([_read_image(p, hw, mode) for p, _ in pairs]))
    y = torch.from_numpy(np.stack([resize_mask(m, hw) for m in mask_list]))
    task = Segmentation(k, classes)
    parts = split_indices(
        len(pairs), task.stratify(y), valid=valid, test=test, train_dev=train_dev, seed=seed
    )
    x_train = x[parts["train"]]
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    splits = {k_: Split((x[i] - mean) / std, y[i], index=i) for k_, i in parts.items()}
    meta = {
        "source": f"{images} + masks {masks}",
        "files": {k_: [str(pairs[j][0]) for j in i.tolist()] for k_, i in parts.items()},
        "mask_files": {k_: [str(pairs[j][1]) for j in i.tolist()] for k_, i in parts.items()},
        "image_size": list(hw),
        "mode": mode,
        "normalize": {"mean": mean.reshape(-1).tolist(), "std": std.reshape(-1).tolist()},
        "seed": seed,
    }
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality="image",
        classes=classes,
        feature_names=None,
        name=name or Path(images).name,
        meta=meta,
    )
