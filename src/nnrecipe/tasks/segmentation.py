"""Semantic segmentation: one class per pixel, per-pixel cross-entropy, Dice and IoU.

Inputs are images ``(N, C, H, W)``; targets are masks ``(N, H, W)`` of class indices 0..K-1;
a model outputs ``(N, K, H, W)`` logits. Metrics are computed over every pixel of a split
(one pixel confusion matrix), so they do not depend on how the split is batched:

- ``dice_k = 2 TP_k / (2 TP_k + FP_k + FN_k)`` and ``iou_k = TP_k / (TP_k + FP_k + FN_k)``;
- ``mean_dice`` / ``mean_iou`` average over the classes that occur in the targets or the
  predictions (a class absent from both has no defined score), background included, like
  fastai's ``DiceMulti``; ``foreground_dice`` leaves class 0 (the background) out;
- ``pixel_accuracy`` is the fraction of pixels predicted right.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.tasks.base import LossFn, Task

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
    """Soft Dice loss: 1 - mean over classes of ``(2 Σ p·t + eps) / (Σ p + Σ t + eps)``.

    `output` are logits ``(N, K, H, W)``, `target` class indices ``(N, H, W)``; sums run over the
    batch and the pixels, `p` the softmax probabilities and `t` the one-hot masks. `eps` keeps a
    class absent from the batch at a loss near 0 instead of 0/0.
    """
    k = output.shape[1]
    p = torch.softmax(output.float(), dim=1)
    t = F.one_hot(target.long().clamp(0, k - 1), k).movedim(-1, 1).to(p.dtype)  # (N, K, H, W)
    dims = (0, *range(2, p.ndim))
    inter = (p * t).sum(dims)
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
    from nnrecipe.errors import ConfigError

    table = {
        "cross-entropy": pixel_cross_entropy,
        "dice": dice_loss,
        "cross-entropy+dice": cross_entropy_dice,
    }
    if name not in table:
        raise ConfigError(f"Unknown segmentation loss {name!r}: use one of {', '.join(LOSSES)}.")
    return table[name]


class Segmentation(Task):
    """One class per pixel, K classes 0..K-1 (class 0 is the background by convention).

    Built-in models output K logits per pixel and are trained with per-pixel cross-entropy;
    ``loss="dice"`` or ``"cross-entropy+dice"`` are options (see `make_loss`).
    """

    name: ClassVar[str] = "segmentation"
    kind: ClassVar[str] = "segmentation"
    primary_metric: ClassVar[str] = "mean_dice"
    higher_is_better: ClassVar[bool] = True

    def __init__(
        self, num_classes: int, classes: list[str] | None = None, *, loss: str = "cross-entropy"
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        self.loss = loss

    def output_size(self) -> int:
        return self.num_classes

    def default_loss(self) -> LossFn:
        return make_loss(self.loss)

    def target_dtype(self) -> torch.dtype:
        return torch.long

    def predict(self, output: Tensor) -> Tensor:
        """(N, H, W) class indices from (N, K, H, W) logits."""
        return output.argmax(dim=1)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        k = self.num_classes
        logits = output.float().cpu()
        y = target.long().cpu()
        cm = pixel_confusion(logits.argmax(1), y, k)
        s = scores_from_confusion(cm)
        ce = float(F.cross_entropy(logits, y.clamp(0, k - 1)))
        out = {key: s[key] for key in ("mean_dice", "mean_iou", "foreground_dice")}
        out["pixel_accuracy"] = s["pixel_accuracy"]
        out["error"] = 1.0 - s["mean_dice"]
        out["nll"] = ce
        for i, name in enumerate(self.classes):
            out[f"dice_{name}"] = s["dice"][i]
        return out

    def prior(self, y_train: Tensor) -> np.ndarray:
        """Fraction of training pixels in each class."""
        counts = np.bincount(
            y_train.reshape(-1).long().clamp(0, self.num_classes - 1).cpu().numpy(),
            minlength=self.num_classes,
        )
        return counts / max(counts.sum(), 1)

    def expected_init_loss(self, y_train: Tensor) -> float:
        """Per-pixel cross-entropy of predicting the pixel-class prior everywhere: its entropy."""
        p = self.prior(y_train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        p = np.clip(self.prior(y_train), 1e-6, None)
        return {"bias": torch.tensor(np.log(p), dtype=torch.float32)}

    def uniform_loss(self) -> float:
        return math.log(self.num_classes)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "num_classes": self.num_classes,
            "classes": self.classes,
            "loss": self.loss,
        }
