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
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks import seg_report
from nnrecipe.tasks.base import LossFn, Task
from nnrecipe.tasks.classification import (
    ERROR_NATS,
    ERROR_RATIO,
    MARGIN_NATS,
    MARGIN_RATIO,
    is_integral,
)
from nnrecipe.tasks.seg_augment import joint_augment
from nnrecipe.tasks.seg_baselines import MajorityPixel, PixelLinear
from nnrecipe.tasks.seg_metrics import (
    LOSSES,
    cross_entropy_dice,
    dice_loss,
    make_loss,
    per_image_cross_entropy,
    per_sample_dice,
    pixel_confusion,
    pixel_cross_entropy,
    scores_from_confusion,
)


def _dominant_class(y: Tensor) -> np.ndarray:
    """The most frequent foreground class of each mask ``(N, H, W)``, 0 for empty masks."""
    flat = y.reshape(len(y), -1).long()
    k = int(flat.max()) + 1 if flat.numel() else 1
    if k <= 1:
        return np.zeros(len(y), dtype=np.int64)
    counts = torch.stack([(flat == c).sum(1) for c in range(1, k)], 1)
    return torch.where(counts.sum(1) > 0, counts.argmax(1) + 1, 0).numpy()


__all__ = [
    "LOSSES",
    "Segmentation",
    "cross_entropy_dice",
    "dice_loss",
    "make_loss",
    "per_image_cross_entropy",
    "per_sample_dice",
    "pixel_confusion",
    "pixel_cross_entropy",
    "scores_from_confusion",
]


class Segmentation(Task):
    """One class per pixel, K classes 0..K-1 (class 0 the background by convention).

    Built-in models (``unet``) output K logits per pixel and train with per-pixel
    cross-entropy; ``loss="dice"`` or ``"cross-entropy+dice"`` are options (see `make_loss`).
    Training batches get the same flips and small affine transforms on image and mask when
    augmentation is on (`nnrecipe.tasks.seg_augment`).
    """

    name: ClassVar[str] = "segmentation"
    primary_metric: ClassVar[str] = "mean_dice"
    higher_is_better: ClassVar[bool] = True
    prior_name: ClassVar[str] = "log(pixel-class prior) logits"
    targets_doc: ClassVar[str] = (
        "one integer class per pixel, masks of shape (N, H, W) for images (N, C, H, W)"
    )
    infer_order: ClassVar[int | None] = 10  # masks before class labels

    def __init__(
        self, num_classes: int, classes: list[str] | None = None, *, loss: str = "cross-entropy"
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        self.loss = loss

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        if y.ndim != 3:
            return f"it takes masks of shape (N, H, W), not targets of shape {tuple(y.shape)}"
        if not is_integral(y):
            return "its masks must hold whole-number class indices"
        if x_shape is None or not isinstance(x_shape, tuple) or len(x_shape) != 3:
            return "it needs images of shape (N, C, H, W) (add a channel axis with x[:, None])"
        if tuple(x_shape[1:]) != tuple(y.shape[1:]):
            return (
                f"each mask must be as large as its image, {tuple(x_shape[1:])}, not "
                f"{tuple(y.shape[1:])}"
            )
        return None

    @classmethod
    def build(
        cls,
        y_train: Tensor,
        *,
        x_shape: Any = None,
        classes: list[str] | None = None,
        loss: Any = None,
        **options: Any,
    ) -> Segmentation:
        y = y_train.reshape(-1)
        if y.numel() and int(y.min()) < 0:
            raise DataError(
                f"Mask values must be class indices 0..K-1, but the smallest is {int(y.min())}: "
                "map the mask values to 0..K-1 first."
            )
        values = torch.unique(y)
        if classes is None and len(values) <= 2 and int(values.max()) == 255:
            raise DataError(
                "The masks hold only 0 and 255, which would make 256 classes: pass binary "
                "masks as 0/1 (masks // 255), or class names with classes=[...]."
            )
        k = max(int(y.max()) + 1 if y.numel() else 0, len(classes or []), 2)
        # `--task-option seg_loss=dice` (or cross-entropy+dice) picks the default loss; `loss`
        # is the user's own loss object, when one is given.
        name = options.pop("seg_loss", options.pop("loss_name", "cross-entropy"))
        if options:
            raise DataError(
                f"Unknown segmentation option(s) {sorted(options)}: the task takes seg_loss="
                "cross-entropy, dice or cross-entropy+dice."
            )
        return cls(k, classes, loss=str(name))

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:
        return (y.round() if torch.is_floating_point(y) else y).long()

    def validate(self, splits: dict[str, Any]) -> None:
        k = self.num_classes
        for name, s in splits.items():
            if not s.in_memory:
                continue
            x, y = s.x, s.y
            if isinstance(x, Tensor) and tuple(x.shape[-2:]) != tuple(y.shape[-2:]):
                raise DataError(
                    f"The {name} split has images of {tuple(x.shape[-2:])} pixels but masks of "
                    f"{tuple(y.shape[-2:])}: every mask must be as large as its image."
                )
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= k:
                raise DataError(
                    f"The {name} split has mask values in [{lo}, {hi}] but the task has {k} "
                    f"classes (0..{k - 1}): make every split's masks use the same classes."
                )
        if len(torch.unique(splits["train"].targets())) < 2:
            raise DataError(
                "Every training mask holds the same single class: segmentation needs at least "
                "two classes among the training pixels; check the masks."
            )

    def stratify(self, y: Tensor) -> np.ndarray | None:
        return _dominant_class(y)

    # -- train --------------------------------------------------------------------------------
    def default_batch_size(self, n_train: int) -> int | None:
        """Small batches: each image is thousands of labelled pixels, so steps count more than
        images per step. A power of two near n_train / 64, between 8 and 32. Measured on
        `shapes` (560 training images, unet, 20 epochs, lr 3e-3): batch 32 (the Learner's
        default for 560 samples) valid mean Dice 0.83, 16: 0.957, 8: 0.976, for 13% more time."""
        b = 1 << max(0, (max(n_train, 1) // 64).bit_length() - 1)
        return max(8, min(32, b))

    def output_size(self) -> int:
        return self.num_classes

    def default_loss(self) -> LossFn:
        return make_loss(self.loss)

    def target_dtype(self) -> torch.dtype:
        return torch.long

    def predict(self, output: Tensor) -> Tensor:
        """(N, H, W) class indices from (N, K, H, W) logits."""
        return output.argmax(dim=1)

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        return per_image_cross_entropy(output, target)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        k = self.num_classes
        logits = output.float().cpu()
        y = target.long().cpu()
        s = scores_from_confusion(pixel_confusion(logits.argmax(1), y, k))
        out = {key: s[key] for key in ("mean_dice", "mean_iou", "foreground_dice")}
        out["pixel_accuracy"] = s["pixel_accuracy"]
        out["error"] = 1.0 - s["mean_dice"]
        out["nll"] = float(F.cross_entropy(logits, y.clamp(0, k - 1)))
        for i, name in enumerate(self.classes):
            out[f"dice_{name}"] = s["dice"][i]
        return out

    def augment(
        self, x: Any, y: Tensor, generator: torch.Generator, *, strength: float = 1.0
    ) -> tuple[Any, Tensor]:
        """The same random flips and small affine transform on each image and its mask."""
        return joint_augment(x, y, generator, strength=strength)

    # -- models -------------------------------------------------------------------------------
    def default_model(self, modality: str) -> str | None:
        return "unet"

    def prior(self, y_train: Tensor) -> np.ndarray:
        """Fraction of training pixels in each class."""
        counts = np.bincount(
            y_train.reshape(-1).long().clamp(0, self.num_classes - 1).cpu().numpy(),
            minlength=self.num_classes,
        )
        return counts / max(counts.sum(), 1)

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        p = np.clip(self.prior(y_train), 1e-6, None)
        return {"bias": torch.tensor(np.log(p), dtype=torch.float32)}

    # -- checks -------------------------------------------------------------------------------
    def expected_init_loss(self, y_train: Tensor) -> float:
        """Per-pixel cross-entropy of predicting the pixel-class prior everywhere: its entropy."""
        p = self.prior(y_train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def uniform_loss(self) -> float:
        return math.log(self.num_classes)

    def _dense(self, out: Tensor) -> bool:
        return out.ndim == 4 and out.shape[1] == self.num_classes

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        if not self._dense(out):
            return None
        logp = torch.log(torch.tensor(self.prior(y_train), dtype=torch.float32).clamp_min(1e-6))
        return logp[None, :, None, None].expand_as(out).to(out.device).clone()

    def uniform_output(self, out: Tensor) -> Tensor | None:
        return torch.zeros_like(out)

    def init_loss_limits(self, ref: float, healthy_upper: float) -> tuple[float, float]:
        # Per-pixel cross-entropy behaves like classification's (same margins, measured there).
        hi = healthy_upper
        warn = max(hi + MARGIN_NATS, hi * MARGIN_RATIO)
        return warn, max(ERROR_RATIO * max(hi, 1e-8), hi + ERROR_NATS)

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        if not self._dense(out) or tuple(out.shape[2:]) != tuple(y.shape[1:]):
            return []
        onehot = F.one_hot(y.long().clamp(0, self.num_classes - 1), self.num_classes)
        sign = 2 * onehot.movedim(-1, 1).float() - 1  # (N, H, W, K) -> (N, K, H, W)
        return [torch.log_softmax(k * sign, 1) for k in (0.5, 1, 2, 4, 8, 16, 32)]

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        y2 = y.clone()
        y2[start:] = (y[start:].long() + 1) % self.num_classes
        return y2

    def output_mismatch(self, out: Tensor, y: Tensor) -> tuple[int, int] | None:
        if out.ndim == 4 and int(out.shape[1]) != self.num_classes:
            return int(out.shape[1]), self.num_classes
        return None

    def applies(self, code: str) -> bool:
        return code not in NOT_APPLICABLE

    # -- baselines / monitor / ensemble -------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        return {"majority": MajorityPixel(self), "linear": PixelLinear(self)}

    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        """Per followed image: the mean probability of each pixel's true class (``p_true``, the
        monitor's heat map), its mean Dice and its most predicted class."""
        probs = torch.softmax(out.float(), 1)
        yy = y.long().clamp(0, probs.shape[1] - 1)
        p_true = probs.gather(1, yy[:, None]).reshape(len(y), -1).mean(1)
        pred = self.predict(out)
        frac = F.one_hot(pred.reshape(len(pred), -1), self.num_classes).float().mean(1)
        return {
            "p_true": [round(float(v), 5) for v in p_true],
            "dice": [round(float(v), 5) for v in per_sample_dice(pred, y, self.num_classes)],
            "predicted": frac.argmax(1).tolist(),
        }

    def average(self, outputs: list[Tensor]) -> Tensor:
        """Members' per-pixel probabilities averaged, as log-probabilities."""
        probs = torch.stack([torch.softmax(o.float(), 1) for o in outputs]).mean(0)
        return torch.log(probs.clamp_min(1e-12))

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "num_classes": self.num_classes,
            "classes": self.classes,
            "loss": self.loss,
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Segmentation:
        classes = desc.get("classes") or None
        n = int(desc.get("num_classes") or len(classes or []) or 2)
        return cls(n, classes, loss=desc.get("loss", "cross-entropy"))

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        return seg_report.data_summary(self, data, show)

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        return seg_report.collect(self, out, y, data, sample)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        return seg_report.plots(self, out, y, data, folder)

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        return seg_report.report_results(self, run, results, plot_files)


# Codes that have no meaning for masks: real-valued target scale; the label audits' per-sample
# labels (label noise by cross-validated cheap models on one label per sample) and the
# per-sample class imbalance, which segmentation replaces by pixel-class imbalance.
NOT_APPLICABLE = frozenset({"target-scale", "label-noise", "class-imbalance"})
