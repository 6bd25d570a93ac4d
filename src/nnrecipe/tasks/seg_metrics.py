"""Segmentation metrics and losses as plain functions (the `Segmentation` task uses them).

Metrics are computed over every pixel of a split (one pixel confusion matrix), so they do not
depend on how the split is batched: ``dice_k = 2 TP_k / (2 TP_k + FP_k + FN_k)``,
``iou_k = TP_k / (TP_k + FP_k + FN_k)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.errors import ConfigError
from nnrecipe.tasks.base import LossFn

LOSSES = ("cross-entropy", "dice", "cross-entropy+dice")


def pixel_confusion(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(K, K) pixel counts: rows the true class, columns the predicted class."""
    t = target.reshape(-1).long().cpu()
    p = pred.reshape(-1).long().cpu()
    k = num_classes
    ok = (t >= 0) & (t < k)
    return torch.bincount(t[ok] * k + p[ok].clamp(0, k - 1), minlength=k * k).reshape(k, k)


def scores_from_confusion(cm: Tensor) -> dict[str, Any]:
    """Per-class Dice and IoU (NaN for a class absent from targets and predictions), their means
    over the classes that occur, the foreground mean (classes 1..K-1) and pixel accuracy."""
    cm = cm.double()
    tp = cm.diag()
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    seen = (tp + fp + fn) > 0
    nan = torch.full_like(tp, float("nan"))
    dice = torch.where(seen, 2 * tp / (2 * tp + fp + fn).clamp_min(1), nan)
    iou = torch.where(seen, tp / (tp + fp + fn).clamp_min(1), nan)
    fg = seen.clone()
    fg[0] = False

    def mean(v: Tensor, m: Tensor) -> float:
        return float(v[m].mean()) if bool(m.any()) else float("nan")

    total = float(cm.sum())
    return {
        "dice": dice.tolist(),
        "iou": iou.tolist(),
        "mean_dice": mean(dice, seen),
        "mean_iou": mean(iou, seen),
        "foreground_dice": mean(dice, fg),
        "pixel_accuracy": float(tp.sum()) / total if total > 0 else float("nan"),
    }


def per_sample_dice(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(N,) mean Dice of each image over the classes present in its mask or its prediction."""
    n = pred.shape[0]
    p = F.one_hot(pred.reshape(n, -1).long().clamp(0, num_classes - 1), num_classes).double()
    t = F.one_hot(target.reshape(n, -1).long().clamp(0, num_classes - 1), num_classes).double()
    inter = (p * t).sum(1)  # (N, K)
    size = p.sum(1) + t.sum(1)
    seen = size > 0
    dice = torch.where(seen, 2 * inter / size.clamp_min(1), torch.zeros_like(size))
    return dice.sum(1) / seen.sum(1).clamp_min(1)


def dice_loss(output: Tensor, target: Tensor, *, eps: float = 1.0) -> Tensor:
    """Soft Dice loss per image: 1 - mean over images and classes of
    ``(2 Σ p·t + eps) / (Σ p + Σ t + eps)``.

    `output` are logits ``(N, K, H, W)``, `target` class indices ``(N, H, W)``; sums run over
    each image's pixels, `p` the softmax probabilities and `t` the one-hot mask. `eps` makes a
    class absent from an image and not predicted there score 1 instead of 0/0. Per image, so an
    image's loss does not depend on its batch-mates (a Dice summed over the whole batch does,
    and changes with the batch size).
    """
    k = output.shape[1]
    p = torch.softmax(output.float(), dim=1)
    t = F.one_hot(target.long().clamp(0, k - 1), k).movedim(-1, 1).to(p.dtype)  # (N, K, H, W)
    dims = tuple(range(2, p.ndim))
    inter = (p * t).sum(dims)  # (N, K)
    size = p.sum(dims) + t.sum(dims)
    return 1 - ((2 * inter + eps) / (size + eps)).mean()


def pixel_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy averaged over every pixel of the batch."""
    return F.cross_entropy(output, target.long())


def cross_entropy_dice(output: Tensor, target: Tensor) -> Tensor:
    """Per-pixel cross-entropy plus soft Dice loss (each about 1 at init, both to 0)."""
    return F.cross_entropy(output, target.long()) + dice_loss(output, target)


def per_image_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """(N,) cross-entropy of each image, averaged over its pixels."""
    ce = F.cross_entropy(output.float(), target.long(), reduction="none")  # (N, H, W)
    return ce.reshape(ce.shape[0], -1).mean(1)


def make_loss(name: str) -> LossFn:
    """A segmentation loss by name: ``"cross-entropy"``, ``"dice"`` or ``"cross-entropy+dice"``."""
    table = {
        "cross-entropy": pixel_cross_entropy,
        "dice": dice_loss,
        "cross-entropy+dice": cross_entropy_dice,
    }
    if name not in table:
        raise ConfigError(f"Unknown segmentation loss {name!r}: use one of {', '.join(LOSSES)}.")
    return table[name]
