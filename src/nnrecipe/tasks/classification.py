"""Classification: binary or multiclass, one label per sample, cross-entropy on logits."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe import plotting
from nnrecipe.errors import DataError
from nnrecipe.html import absent, confusion_html, esc, figure, fmt, png_img, table, top_loss_tiles
from nnrecipe.tasks.base import LossFn, Task
from nnrecipe.tasks.losses import wants_float_targets

# loss-at-init: healthy between the loss of predicting the class prior and of uniform (zero)
# logits, plus a margin. Measured over 85 models (MLPs depth 1-8 with ReLU/tanh/GELU in
# PyTorch default and kaiming-everywhere inits on 2/3/10-class data; built-in and hand-written
# CNNs 1-D/2-D): excess over uniform -0.15..+0.86 nats, ratio at most 1.79, the top ones being
# kaiming init on the *last* layer too (logit std ~1.5, mild). Planted: last layer x20 +2.0
# (1.87x), temperature 1/0.05 +6.0 (3.6x), raw pixels +7.9 (4.4x).
# Warning above both +1.0 nats and 1.5x; error above both +2 nats and 3x.
MARGIN_NATS = 1.0
MARGIN_RATIO = 1.5
ERROR_NATS = 2.0
ERROR_RATIO = 3.0
TOP_LOSSES = 12
SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 20


def is_integral(y: Tensor) -> bool:
    """Integer dtype, or floats that are all whole numbers."""
    if not torch.is_floating_point(y):
        return True
    finite = y[torch.isfinite(y)]
    return bool(finite.numel()) and bool((finite == finite.round()).all())


class Classification(Task):
    """Single-label classification into `num_classes` classes, labels 0..C-1.

    Built-in models output C logits (two for binary) and are trained with cross-entropy. A user's
    model may output one logit for binary problems (with ``BCEWithLogitsLoss``); metrics and
    predictions handle both.
    """

    name: ClassVar[str] = "classification"
    primary_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    prior_name: ClassVar[str] = "log(class prior) logits"
    targets_doc: ClassVar[str] = "one integer class label per sample, shape (N,)"
    infer_order: ClassVar[int | None] = 20

    def __init__(
        self, num_classes: int, classes: list[str] | None = None, *, outputs: str = "logits"
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        # "logits", or "probabilities" for a binary model trained with BCELoss (sigmoid inside).
        self.outputs = outputs

    @property
    def kind_label(self) -> str:
        return "binary" if self.num_classes == 2 else "multiclass"

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
            return f"it takes one label per sample, not targets of shape {tuple(y.shape)}"
        if not is_integral(y):
            return "its labels must be whole numbers"
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
    ) -> Classification:
        if not is_integral(y_train):
            raise DataError(
                "Classification needs integer class labels, but the targets have fractional "
                "values: pass task='regression' or convert the labels to integers 0..C-1."
            )
        y = y_train.reshape(-1).long()
        if y.numel() and int(y.min()) < 0:
            raise DataError(
                f"Class labels must be 0..C-1, but the smallest label is {int(y.min())}: "
                "map the labels to 0..C-1 first."
            )
        num_classes = max(int(y.max()) + 1 if y.numel() else 0, len(classes or []), 2)
        return cls(num_classes, classes, **options)

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:

        if torch.is_floating_point(y):
            y = y.round()
        return y.float() if wants_float_targets(loss) else y.long()

    def validate(self, splits: dict[str, Any]) -> None:
        y_train = splits["train"].targets()
        if len(torch.unique(y_train.reshape(-1).round())) < 2:
            raise DataError(
                f"The training targets hold a single class ({int(y_train.reshape(-1)[0])}): "
                "classification needs at least two classes; check the labels or the split."
            )
        c = self.num_classes
        for k, s in splits.items():
            if not s.in_memory:
                continue
            y = s.y.reshape(-1)
            if int(y.min()) < 0 or int(y.max()) >= c:
                raise DataError(
                    f"The {k} split has labels in [{int(y.min())}, {int(y.max())}] but the "
                    f"training split defines {c} classes (0..{c - 1}): make every split use the "
                    "same labels."
                )

    def stratify(self, y: Tensor) -> np.ndarray | None:
        return y.reshape(len(y), -1)[:, 0].round().long().numpy()

    # -- train --------------------------------------------------------------------------------
    def output_size(self) -> int:
        return self.num_classes

    def default_loss(self) -> LossFn:
        return F.cross_entropy

    def weighted_loss(self, y_train: Tensor) -> LossFn:
        """Cross-entropy weighted by 'balanced' class weights (``class_weights="balanced"``)."""
        weight = class_weights(y_train, self.num_classes)

        def balanced_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
            return F.cross_entropy(output, target, weight=weight.to(output.device))

        return balanced_cross_entropy

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

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        probs = self.probabilities(output)
        y = target.reshape(-1).long().clamp(0, probs.shape[1] - 1)
        return -torch.log(probs.gather(1, y[:, None]).squeeze(1).clamp_min(1e-12))

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
        recall_all = hits / support.clamp_min(1)
        precision = torch.where(
            predicted > 0, hits / predicted.clamp_min(1), torch.zeros_like(hits)
        )
        denom = precision + recall_all
        f1 = torch.where(denom > 0, 2 * precision * recall_all / denom, torch.zeros_like(hits))
        labels = present | (predicted > 0)  # sklearn's macro F1 averages over labels seen anywhere
        accuracy = float(hits.sum() / max(len(y), 1))
        recall = recall_all[present]
        out = {
            "accuracy": accuracy,
            "error": 1.0 - accuracy,
            "balanced_accuracy": float(recall.mean()) if len(recall) else float("nan"),
            "macro_f1": float(f1[labels].mean()) if labels.any() else float("nan"),
            "nll": nll,
        }
        if c == 2:
            out["roc_auc"], out["pr_auc"] = _binary_aucs(probs[:, 1].double(), y.clamp(0, 1))
        return out

    # -- models -------------------------------------------------------------------------------
    def prior(self, y_train: Tensor) -> np.ndarray:
        counts = np.bincount(y_train.reshape(-1).long().cpu().numpy(), minlength=self.num_classes)
        return counts / max(counts.sum(), 1)

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        p = np.clip(self.prior(y_train), 1e-6, None)
        return {"bias": torch.tensor(np.log(p), dtype=torch.float32)}

    # -- checks -------------------------------------------------------------------------------
    def expected_init_loss(self, y_train: Tensor) -> float:
        """Cross-entropy of predicting the class prior: its entropy (log C when balanced).

        A model initialised with small last-layer weights and bias = log(prior) predicts the prior
        for every input, so its loss at init is the prior's entropy. A model whose last bias is
        zero predicts uniform probabilities and has loss log C.
        """
        p = self.prior(y_train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def uniform_loss(self) -> float:
        return math.log(self.num_classes)

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        p = torch.tensor(self.prior(y_train), dtype=torch.float32).clamp_min(1e-6)
        if out.ndim == 2 and out.shape[1] == len(p):
            return torch.log(p).expand_as(out).to(out.device).clone()
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
            return torch.full_like(out, float(torch.log(p[1] / p[0])) if len(p) > 1 else 0.0)
        return None

    def uniform_output(self, out: Tensor) -> Tensor | None:
        return torch.zeros_like(out)

    def init_loss_limits(self, ref: float, healthy_upper: float) -> tuple[float, float]:
        hi = healthy_upper
        warn = max(hi + MARGIN_NATS, hi * MARGIN_RATIO)
        return warn, max(ERROR_RATIO * max(hi, 1e-8), hi + ERROR_NATS)

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        # Valid for every classification loss: log-softmax of confident logits is both a logit
        # and a log-probability encoding (CrossEntropy and NLL); one binary output gets logits
        # (BCE-with-logits) and sigmoid probabilities (BCELoss).
        yl = y.reshape(-1).long()
        ks = (0.5, 1, 2, 4, 8, 16, 32)
        if out.ndim == 2 and out.shape[1] >= 2:
            onehot = F.one_hot(yl.clamp(0, out.shape[1] - 1), out.shape[1]).float()
            return [torch.log_softmax(k * (2 * onehot - 1), 1) for k in ks]
        sign = (2 * yl.float() - 1).reshape(out.shape)
        return [sign * k for k in ks] + [torch.sigmoid(sign * k) for k in ks]

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        y2 = y.clone()
        if torch.is_floating_point(y):
            y2[start:] = 1 - y[start:]
        else:
            y2[start:] = (y[start:] + 1) % self.num_classes
        return y2

    def output_mismatch(self, out: Tensor, y: Tensor) -> tuple[int, int] | None:
        if out.ndim == 2 and out.shape[1] > 1 and int(out.shape[1]) != self.num_classes:
            return int(out.shape[1]), self.num_classes
        return None

    def labels_for_audit(self, y: Tensor) -> Tensor | None:
        return y.reshape(-1).long()

    def applies(self, code: str) -> bool:
        # Target scale is about real-valued targets; class labels have none.
        return code != "target-scale"

    # -- baselines / monitor / ensemble ---------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        from sklearn.dummy import DummyClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return {
            "majority": _Probabilities(self, DummyClassifier(strategy="prior")),
            "linear": _Probabilities(
                self, make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=1.0))
            ),
        }

    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        probs = self.probabilities(out)
        yy = y.reshape(-1).long().clamp(0, probs.shape[1] - 1)
        return {
            "p_true": [round(float(v), 5) for v in probs.gather(1, yy[:, None]).squeeze(1)],
            "predicted": probs.argmax(1).tolist(),
        }

    def average(self, outputs: list[Tensor]) -> Tensor:
        """Members' probabilities averaged, returned as log-probabilities (valid logits)."""
        probs = torch.stack([self.probabilities(o) for o in outputs]).mean(0)
        return torch.log(probs.clamp_min(1e-12))

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "kind_label": self.kind_label,
            "num_classes": self.num_classes,
            "classes": self.classes,
            "outputs": self.outputs,
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Classification:
        classes = desc.get("classes") or None
        n = int(desc.get("num_classes") or len(classes or []) or 2)
        return cls(n, classes, outputs=desc.get("outputs", "logits"))

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        counts = {
            name: np.bincount(
                _targets(s).reshape(-1).long().numpy(), minlength=self.num_classes
            ).tolist()
            for name, s in data.splits.items()
        }
        out: dict[str, Any] = {"class_counts": counts}
        if data.modality != "tabular":
            labels = _targets(data.train).reshape(-1).long()
            rows = []
            for c in range(min(self.num_classes, MAX_CLASSES_SHOWN)):
                idx = (labels == c).nonzero().reshape(-1)[:SAMPLES_PER_CLASS].tolist()
                rows.append({"class": c, "items": show(idx)})
            out["samples"] = rows
        return out

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        probs = self.probabilities(out)
        yy = y.reshape(-1).long()
        pred = probs.argmax(1)
        labels = list(range(self.num_classes))
        p, r, f, s = precision_recall_fscore_support(
            yy.numpy(), pred.numpy(), labels=labels, zero_division=0
        )
        res: dict[str, Any] = {
            "per_class": [
                {
                    "class": c,
                    "precision": float(p[c]),
                    "recall": float(r[c]),
                    "f1": float(f[c]),
                    "support": int(s[c]),
                }
                for c in labels
            ],
            "confusion": confusion_matrix(yy.numpy(), pred.numpy(), labels=labels).tolist(),
        }
        losses = self.per_sample_loss(out, y)
        given_p = torch.exp(-losses)
        order = torch.argsort(losses, descending=True)[:TOP_LOSSES].tolist()
        res["top_losses"] = [
            {
                "given": int(yy[i]),
                "predicted": int(pred[i]),
                "correct": bool(yy[i] == pred[i]),
                "p_given": float(given_p[i]),
                "p_predicted": float(probs[i, pred[i]]),
                "loss": float(losses[i]),
                **sample(i),
            }
            for i in order
        ]
        return res

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:

        names = data.classes or self.classes
        return [
            plotting.confusion_matrix(
                y.numpy().reshape(-1),
                self.predict(out).numpy(),
                names,
                folder / "confusion_valid.png",
                title="Confusion matrix (valid)",
            )
        ]

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:

        names = [run.class_name(i) for i in range(self.num_classes)]
        parts = ["<h3>Confusion matrix (valid)</h3>"]
        cm = results.get("confusion")
        if cm and len(cm) <= 30:
            parts.append(confusion_html(cm, names))
        else:
            pics = [
                figure(png_img(b, alt=f))
                for f in plot_files
                if "confusion" in f and (b := run.file(f))
            ]
            parts.append("".join(pics) or absent("Not recorded."))
        if results.get("per_class"):
            rows = [
                (
                    esc(run.class_name(r["class"])),
                    fmt(r["precision"]),
                    fmt(r["recall"]),
                    f"<div class='bar' style='width:{120 * float(r['recall']):.0f}px'></div>",
                    fmt(r["f1"]),
                    fmt(r["support"]),
                )
                for r in results["per_class"]
            ]
            parts.append(
                "<h3>Per-class metrics (valid)</h3>"
                + table(
                    ["class", "precision", "recall", "", "F1", "support"], rows, cls="num", raw=True
                )
            )

        def text(t: dict[str, Any]) -> str:
            cls = "good" if t.get("correct", t["given"] == t["predicted"]) else "bad"
            return (
                f"<div>given <b>{esc(run.class_name(t['given']))}</b></div><div class='{cls}'>"
                f"predicted <b>{esc(run.class_name(t['predicted']))}</b> "
                f"({fmt(t.get('p_predicted'), 2)})</div>"
            )

        parts.append(
            top_loss_tiles(results.get("top_losses", []), text, "input, given and predicted label")
        )
        return "".join(parts)


def _binary_aucs(score: Tensor, y: Tensor) -> tuple[float, float]:
    """ROC-AUC (the Mann-Whitney rank statistic, ties counted half) and PR-AUC (average
    precision, as scikit-learn computes it) of scores for the positive class."""
    pos, n = int(y.sum()), len(y)
    if pos == 0 or pos == n:
        return float("nan"), float("nan")
    order = torch.argsort(score)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = torch.arange(1, n + 1, dtype=torch.float64)
    # Average ranks over ties.
    uniq, inverse = torch.unique(score, return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.zeros(len(uniq), dtype=torch.float64).index_add_(
        0, inverse, torch.ones(n, dtype=torch.float64)
    )
    ranks = (sums / counts)[inverse]
    roc = (float(ranks[y == 1].sum()) - pos * (pos + 1) / 2) / (pos * (n - pos))
    # Average precision over distinct thresholds, highest score first.
    desc = torch.argsort(-uniq)
    tp = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, y.double())[desc]
    tp_cum, all_cum = tp.cumsum(0), counts[desc].cumsum(0)
    precision = tp_cum / all_cum
    ap = float((tp / pos * precision).sum())
    return roc, ap


def class_weights(y_train: Tensor, num_classes: int) -> Tensor:
    """'Balanced' class weights, n / (C * count_c) (scikit-learn's rule); absent classes 0."""
    counts = torch.bincount(y_train.reshape(-1).long(), minlength=num_classes).double()
    w = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp_min(1)), 0.0)
    return w.float()


def _targets(split: Any) -> Tensor:
    """A split's targets without reading its inputs (streamed splits keep `y` in memory)."""
    return split.y if split.y is not None else split.targets()


class _Probabilities:
    """A scikit-learn classifier whose `output(x)` is log-probabilities over every class."""

    def __init__(self, task: Classification, estimator: Any) -> None:
        self.task, self.estimator = task, estimator

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Probabilities:
        self.estimator.fit(x, y.reshape(-1).astype(int))
        return self

    def output(self, x: np.ndarray) -> Tensor:
        proba = np.zeros((len(x), self.task.num_classes))
        proba[:, self.estimator.classes_] = self.estimator.predict_proba(x)
        return torch.log(torch.from_numpy(proba).float().clamp_min(1e-12))
