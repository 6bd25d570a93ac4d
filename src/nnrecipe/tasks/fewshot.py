"""Few-shot learning with a Siamese embedding (`--task few-shot`).

An embedding network is trained on the training classes with a contrastive loss over the pairs
of each batch, or a batch-hard triplet loss (``--task-option loss=triplet``); it is scored on
classes it never saw, by N-way K-shot episodes (nearest class prototype), as mean accuracy with
a 95% interval over ``episodes`` episodes. ``fewshot_classes`` names the held-out classes
(default: the upper half of the sorted classes, 5-9 for digits).

Options: ``fewshot_classes``, ``objective`` (contrastive, triplet), ``margin``, ``dim`` (embedding
size), ``ways``, ``shots``, ``episodes``.
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
from nnrecipe.tasks.base import LossFn, Task

LOSSES = ("contrastive", "triplet")
MARGINS = {"contrastive": 0.5, "triplet": 0.2}  # on unit-length embeddings (distances 0..2)
OPTIONS = ("fewshot_classes", "objective", "margin", "dim", "ways", "shots", "episodes")
MAX_QUERIES = 15
EPISODE_SEED = 12345  # the same episodes at every evaluation: epochs compare fairly


def _pair_distances(out: Tensor) -> Tensor:
    e = F.normalize(out.float().reshape(len(out), -1), dim=1)
    # sqrt with a floor: the gradient of sqrt at 0 (identical embeddings) is infinite.
    return ((e[:, None] - e[None]) ** 2).sum(-1).clamp_min(1e-12).sqrt()


class _Loss:
    def __init__(self, task: FewShot) -> None:
        self.task = task

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return self.task.per_sample_loss(output, target).mean()


class FewShot(Task):
    """Class labels in, embeddings out; scored on held-out classes (see the module doc)."""

    name: ClassVar[str] = "few-shot"
    primary_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    prior_name: ClassVar[str] = "random embeddings"
    targets_doc: ClassVar[str] = "class labels 0..C-1, shape (N,)"
    infer_order: ClassVar[int | None] = None
    loss_pairs_samples: ClassVar[bool] = True

    def __init__(
        self,
        num_classes: int,
        classes: list[str] | None = None,
        *,
        held_out: list[int] | None = None,
        loss: str = "contrastive",
        margin: float | None = None,
        dim: int = 32,
        ways: int = 5,
        shots: int = 1,
        episodes: int = 1000,
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        self.held_out = list(held_out or [])
        self.loss = loss
        self.margin = MARGINS[loss] if margin is None else float(margin)
        self.dim = dim
        self.ways = ways
        self.shots = shots
        self.episodes = episodes

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        if torch.is_floating_point(y) or y.ndim != 1:
            return "its targets must be class labels (integers), one per sample"
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
    ) -> FewShot:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise DataError(
                f"Unknown option(s) {', '.join(sorted(unknown))} for task 'few-shot': it takes "
                f"{', '.join(OPTIONS)}."
            )
        present = sorted(int(c) for c in torch.unique(y_train))
        num = max(len(classes or []), present[-1] + 1)
        names = classes or [str(i) for i in range(num)]
        held = options.get("fewshot_classes")
        if held is None:
            held = present[len(present) // 2 :]
        else:
            held = [names.index(str(c)) if str(c) in names else int(c) for c in held]
        missing = [c for c in held if c not in present]
        if missing:
            raise DataError(
                f"fewshot_classes names {missing}, which the data do not have: use labels "
                f"among {present}."
            )
        ways = int(options.get("ways", 5))
        ways = min(ways, len(held)) if "ways" not in options else ways
        if ways < 2 or ways > len(held):
            raise DataError(
                f"{ways}-way episodes need at least {ways} held-out classes, got {len(held)}: "
                "pass ways=N (N >= 2) or hold out more classes with fewshot_classes."
            )
        loss_name = str(options.get("objective", "contrastive"))
        if loss_name not in LOSSES:
            raise DataError(f"Unknown objective {loss_name!r} for task 'few-shot': use {LOSSES}.")
        return cls(
            num,
            names,
            held_out=held,
            loss=loss_name,
            margin=options.get("margin"),
            dim=int(options.get("dim", 32)),
            ways=ways,
            shots=int(options.get("shots", 1)),
            episodes=int(options.get("episodes", 1000)),
        )

    def arrange(self, splits: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
        from nnrecipe.data.fewshot import split_by_class

        return split_by_class(
            splits, self.held_out, seed=seed, min_per_class=self.shots + 1, names=self.classes
        )

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:
        return y.long().reshape(-1)

    def stratify(self, y: Tensor) -> np.ndarray | None:
        return y.reshape(-1).long().numpy()

    def labels_for_audit(self, y: Tensor) -> Tensor | None:
        return y.reshape(-1).long()

    # -- train --------------------------------------------------------------------------------
    def output_size(self) -> int:
        return self.dim

    def default_loss(self) -> LossFn:
        return _Loss(self)

    def target_dtype(self) -> torch.dtype:
        return torch.long

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """(N,) each sample's share of the batch's pair (or triplet) loss."""
        d = _pair_distances(output)
        y = target.reshape(-1)
        same = y[:, None] == y[None]
        eye = torch.eye(len(y), dtype=torch.bool, device=d.device)
        pos, neg = same & ~eye, ~same
        if self.loss == "triplet":  # batch-hard (Hermans et al. 2017)
            hardest_pos = torch.where(pos, d, torch.zeros_like(d)).amax(1)
            hardest_neg = torch.where(neg, d, torch.full_like(d, 4.0)).amin(1)
            valid = (pos.any(1) & neg.any(1)).float()
            return F.relu(hardest_pos - hardest_neg + self.margin) * valid
        # Contrastive (Hadsell et al. 2006), positives and negatives weighted equally, so a
        # batch with few positive pairs is not all about pushing apart.
        pos_loss = (d**2 * pos).sum(1) / pos.sum(1).clamp_min(1)
        neg_loss = (F.relu(self.margin - d) ** 2 * neg).sum(1) / neg.sum(1).clamp_min(1)
        return pos_loss + neg_loss

    def predict(self, output: Tensor) -> Tensor:
        return F.normalize(output.float().reshape(len(output), -1), dim=1)

    def episode_accuracies(self, output: Tensor, target: Tensor, *, shots: int) -> Tensor:
        """(episodes,) accuracies of `ways`-way `shots`-shot episodes over these samples."""
        from nnrecipe.data.fewshot import episode_accuracy, episodes

        y = target.reshape(-1).cpu()
        counts = torch.bincount(y)
        smallest = int(counts[counts > 0].min())
        ways = min(self.ways, int((counts > 0).sum()))
        queries = min(MAX_QUERIES, smallest - shots)
        if queries < 1 or ways < 2:
            return torch.full((1,), float("nan"))
        support, query = episodes(
            y, ways=ways, shots=shots, queries=queries, count=self.episodes, seed=EPISODE_SEED
        )
        return episode_accuracy(self.predict(output.cpu()), support, query)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        acc = self.episode_accuracies(output, target, shots=self.shots)
        ci = 1.96 * float(acc.std()) / math.sqrt(len(acc)) if len(acc) > 1 else float("nan")
        d = _pair_distances(output[:2048])
        return {
            "accuracy": float(acc.mean()),
            "accuracy_ci95": ci,
            "error": 1.0 - float(acc.mean()),  # what Ng's table reads
            "mean_distance": float(d.sum() / max(1, d.numel() - len(d))),
        }

    # -- models / checks ----------------------------------------------------------------------
    def default_model(self, modality: str) -> str | None:
        return "embedding"  # nnrecipe.models.fewshot: the body with a plain linear head

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        return {}

    def expected_init_loss(self, y_train: Tensor) -> float:
        """The loss of random unit embeddings (seeded) for these targets."""
        y = y_train.reshape(-1)[:512]
        gen = torch.Generator().manual_seed(0)
        return float(self.per_sample_loss(torch.randn(len(y), self.dim, generator=gen), y).mean())

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        if self.num_classes > out.shape[1]:
            return []
        return [F.one_hot(y.reshape(-1).long(), out.shape[1]).float().to(out.device)]

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        y2 = y.clone()
        y2[start:] = (y[start:] + 1) % self.num_classes
        return y2

    def applies(self, code: str) -> bool:
        # Train and valid hold different classes by design: their inputs differ in distribution.
        # Embeddings have no prior to compare the loss at init with (embeddings-collapse and
        # margin-never-active look at the init instead).
        return code not in (
            "output-is-probability",
            "class-imbalance",
            "distribution-shift",
            "loss-at-init",
        )

    # -- baselines ----------------------------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        from nnrecipe.tasks.fewshot_report import baselines

        return baselines(self)

    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        return {}

    def average(self, outputs: list[Tensor]) -> Tensor:
        return torch.stack([self.predict(o) for o in outputs]).mean(0)

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "num_classes": self.num_classes,
            "classes": self.classes,
            "held_out": self.held_out,
            "loss": self.loss,
            "margin": self.margin,
            "dim": self.dim,
            "ways": self.ways,
            "shots": self.shots,
            "episodes": self.episodes,
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> FewShot:
        keys = ("held_out", "loss", "margin", "dim", "ways", "shots", "episodes")
        return cls(
            int(desc["num_classes"]), desc.get("classes"), **{k: desc[k] for k in keys if k in desc}
        )

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        counts = {
            name: np.bincount(s.targets().reshape(-1).long().numpy(), minlength=self.num_classes)
            .astype(int)
            .tolist()
            for name, s in data.splits.items()
        }
        return {"class_counts": counts, "held_out": self.held_out}

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        from nnrecipe.tasks.fewshot_report import collect

        return collect(self, out, y, sample)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        from nnrecipe.tasks.fewshot_report import plots

        return plots(self, out, y, folder)

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        from nnrecipe.tasks.fewshot_report import report_results

        return report_results(self, run, results, plot_files)
