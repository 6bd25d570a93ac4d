"""Classification: binary or multiclass, cross-entropy on logits."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.tasks.base import LossFn, Task


class Classification(Task):
    """Single-label classification into `num_classes` classes, labels 0..C-1.

    Built-in models output C logits (two for binary) and are trained with cross-entropy. A user's
    model may output one logit for binary problems (with ``BCEWithLogitsLoss``); metrics and
    predictions handle both.
    """

    kind: ClassVar[str] = "classification"
    primary_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    def __init__(
        self, num_classes: int, classes: list[str] | None = None, *, outputs: str = "logits"
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        # "logits", or "probabilities" for a binary model trained with BCELoss (sigmoid inside).
        self.outputs = outputs

    @property
    def name(self) -> str:  # type: ignore[override]
        return "binary" if self.num_classes == 2 else "multiclass"

    def output_size(self) -> int:
        return self.num_classes

    def default_loss(self) -> LossFn:
        return F.cross_entropy

    def target_dtype(self) -> torch.dtype:
        return torch.long

    def probabilities(self, output: Tensor) -> Tensor:
        """(N, C) class probabilities from (N, C) logits or (N,)/(N, 1) binary logits."""
        if output.ndim == 1 or output.shape[-1] == 1:
            p1 = output.reshape(-1).float()
            p1 = p1.clamp(0, 1) if self.outputs == "probabilities" else torch.sigmoid(p1)
            return torch.stack([1 - p1, p1], dim=1)
        return torch.softmax(output.float(), dim=1)

    def predict(self, output: Tensor) -> Tensor:
        return self.probabilities(output).argmax(dim=1)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        probs = self.probabilities(output).cpu()
        y = target.reshape(-1).long().cpu()
        pred = probs.argmax(dim=1)
        c = probs.shape[1]
        # NLL from probabilities so that one- and C-logit models are scored alike.
        picked = probs.gather(1, y.clamp(0, c - 1)[:, None]).squeeze(1)
        nll = float(-torch.log(picked.clamp_min(1e-12)).mean())
        # Confusion matrix in torch (rows: true, columns: predicted); per-class recall and
        # precision give balanced accuracy and macro F1 over the classes present in `target`.
        cm = torch.bincount(y.clamp(0, c - 1) * c + pred, minlength=c * c).reshape(c, c).double()
        support, predicted, hits = cm.sum(1), cm.sum(0), cm.diag()
        present = support > 0
        recall = hits[present] / support[present]
        precision = torch.where(
            predicted > 0, hits / predicted.clamp_min(1), torch.zeros_like(hits)
        )
        f1 = torch.where(
            precision + hits / support.clamp_min(1) > 0,
            2
            * precision
            * (hits / support.clamp_min(1))
            / (precision + hits / support.clamp_min(1)),
            torch.zeros_like(hits),
        )
        labels = present | (predicted > 0)  # sklearn's macro F1 averages over labels seen anywhere
        accuracy = float(hits.sum() / max(len(y), 1))
        return {
            "accuracy": accuracy,
            "error": 1.0 - accuracy,
            "balanced_accuracy": float(recall.mean()) if len(recall) else float("nan"),
            "macro_f1": float(f1[labels].mean()) if labels.any() else float("nan"),
            "nll": nll,
        }

    def prior(self, y_train: Tensor) -> np.ndarray:
        counts = np.bincount(y_train.reshape(-1).long().cpu().numpy(), minlength=self.num_classes)
        return counts / max(counts.sum(), 1)

    def expected_init_loss(self, y_train: Tensor) -> float:
        """Cross-entropy of predicting the class prior: its entropy (log C when balanced).

        A model initialised with small last-layer weights and bias = log(prior) predicts the prior
        for every input, so its loss at init is the prior's entropy. A model whose last bias is
        zero predicts uniform probabilities and has loss log C.
        """
        p = self.prior(y_train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        p = np.clip(self.prior(y_train), 1e-6, None)
        return {"bias": torch.tensor(np.log(p), dtype=torch.float32)}

    def uniform_loss(self) -> float:
        return math.log(self.num_classes)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_classes": self.num_classes, "classes": self.classes}
