"""The segmentation task's report parts: pixel-class counts, per-class Dice / IoU, the pixel
confusion matrix, and image | true mask | predicted mask strips of the worst-Dice valid images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nnrecipe import plotting
from nnrecipe.html import absent, confusion_html, esc, fmt, note, png_img, table
from nnrecipe.tasks.seg_metrics import (
    per_image_cross_entropy,
    per_sample_dice,
    pixel_confusion,
    scores_from_confusion,
)

WORST = 12  # worst-Dice validation images shown
SAMPLES_PER_CLASS = 8
STRIP_SCALE_MAX = 4  # each panel is drawn at up to 4x, at most ~96 px on its long side
# Class colours for masks (background black), then a repeat of the palette for many classes.
PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [255, 225, 25],
        [145, 30, 180],
        [70, 240, 240],
        [245, 130, 48],
        [240, 50, 230],
        [128, 128, 0],
    ],
    dtype=np.uint8,
)


def colour(mask: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours."""
    idx = np.where(mask > 0, (mask - 1) % (len(PALETTE) - 1) + 1, 0)
    return PALETTE[idx]


def _grey_or_rgb(x: Tensor) -> np.ndarray:
    """(C, H, W) standardised image -> (H, W, 3) uint8, min-max scaled."""
    a = x.float()
    if a.shape[0] not in (1, 3):
        a = a.mean(0, keepdim=True)
    lo, hi = float(a.min()), float(a.max())
    a = ((a - lo) / (hi - lo if hi > lo else 1.0) * 255).round().clamp(0, 255).byte()
    arr = a.permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def strip(x: Tensor, true: Tensor, pred: Tensor) -> np.ndarray:
    """One row: the image | the true mask over it | the predicted mask over it."""
    image = _grey_or_rgb(x).astype(np.float32)

    def overlay(mask: Tensor) -> np.ndarray:
        m = mask.numpy()
        tinted = 0.45 * image + 0.55 * colour(m)
        return np.where((m > 0)[..., None], tinted, 0.6 * image)

    gap = np.full((image.shape[0], 2, 3), 255, dtype=np.float32)
    row = np.concatenate([image, gap, overlay(true), gap, overlay(pred)], axis=1)
    scale = max(1, min(STRIP_SCALE_MAX, 96 // max(image.shape[:2])))
    row = row.repeat(scale, 0).repeat(scale, 1)
    return row.round().clip(0, 255).astype(np.uint8)


def png_b64(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _targets(split: Any) -> Tensor:
    return split.y if split.y is not None else split.targets()


def data_summary(task: Any, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
    """Pixel counts per class and split (the class histogram), a few training images that
    contain each class."""
    k = task.num_classes
    counts = {
        name: np.bincount(_targets(s).reshape(-1).long().clamp(0, k - 1).numpy(), minlength=k)
        .astype(int)
        .tolist()
        for name, s in data.splits.items()
    }
    y = _targets(data.train)
    present = torch.stack([(y == c).reshape(len(y), -1).any(1) for c in range(k)], 1)
    rows = []
    for c in range(min(k, 20)):
        idx = present[:, c].nonzero().reshape(-1)[:SAMPLES_PER_CLASS].tolist()
        rows.append({"class": c, "items": show(idx)})
    return {"class_counts": counts, "class_counts_unit": "pixels", "samples": rows}


def collect(task: Any, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
    """Per-class Dice / IoU with pixel support, the pixel confusion matrix and the worst-Dice
    validation images (each with an image | true | predicted strip)."""
    k = task.num_classes
    pred = task.predict(out)
    cm = pixel_confusion(pred, y, k)
    s = scores_from_confusion(cm)
    support = cm.sum(1).tolist()
    per_class = [
        {"class": c, "dice": s["dice"][c], "iou": s["iou"][c], "pixels": int(support[c])}
        for c in range(k)
    ]
    dice = per_sample_dice(pred, y, k)
    losses = per_image_cross_entropy(out, y)
    order = torch.argsort(dice)[:WORST].tolist()
    x = data.valid.x if data.valid.in_memory and isinstance(data.valid.x, Tensor) else None
    worst = []
    for i in order:
        item = {"dice": float(dice[i]), "loss": float(losses[i]), **sample(i)}
        if x is not None:
            item["strip"] = png_b64(strip(x[i], y[i], pred[i]))
        worst.append(item)
    return {"per_class": per_class, "confusion": cm.tolist(), "worst_dice": worst}


def plots(task: Any, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
    """The pixel confusion matrix (valid) as a picture."""
    names = data.classes or task.classes
    return [
        plotting.confusion_matrix(
            y.reshape(-1).numpy(),
            task.predict(out).reshape(-1).numpy(),
            names,
            folder / "confusion_valid.png",
            title="Pixel confusion matrix (valid)",
        )
    ]


def report_results(task: Any, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
    names = [run.class_name(i) for i in range(task.num_classes)]
    parts = []
    if results.get("per_class"):
        rows = [
            (
                esc(names[r["class"]] if r["class"] < len(names) else r["class"]),
                fmt(r["dice"]),
                f"<div class='bar' style='width:{120 * _num(r['dice']):.0f}px'></div>",
                fmt(r["iou"]),
                fmt(r["pixels"]),
            )
            for r in results["per_class"]
        ]
        parts.append(
            "<h3>Per-class Dice and IoU (valid, over all pixels)</h3>"
            + table(["class", "Dice", "", "IoU", "pixels"], rows, cls="num", raw=True)
        )
    parts.append("<h3>Pixel confusion matrix (valid)</h3>")
    cm = results.get("confusion")
    parts.append(confusion_html(cm, names) if cm else absent("Not recorded."))
    worst = results.get("worst_dice") or []
    parts.append("<h3>Worst-Dice validation images: image | true mask | predicted mask</h3>")
    if not worst:
        parts.append(absent("Not recorded."))
    else:
        tiles = []
        for t in worst:
            pic = t.get("strip")
            img = (
                png_img(base64.b64decode(pic), alt="image, true and predicted mask") if pic else ""
            )
            file = f"<div class='file'>{esc(t['file'])}</div>" if t.get("file") else ""
            tiles.append(
                f"<div class='tile'>{img}<div>valid #{esc(t.get('index'))} · Dice "
                f"{fmt(t.get('dice'), 3)} · loss {fmt(t.get('loss'), 3)}</div>{file}</div>"
            )
        legend = ", ".join(
            f"<span style='color:rgb{tuple(int(v) for v in PALETTE[(c - 1) % (len(PALETTE) - 1) + 1])}'>"
            f"■</span> {esc(n)}"
            for c, n in enumerate(names)
            if c > 0
        )
        parts.append(
            f"<div class='grid'>{''.join(tiles)}</div>"
            + note(
                f"Colours: {legend}. The images the model segments worst: look for masks that "
                "are wrong or shifted, classes the model confuses, and objects it misses."
            )
        )
    return "".join(parts)


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if f == f else 0.0
