"""Few-shot learning with a Siamese embedding (`--task few-shot`).

An embedding network is trained on the training classes and scored on classes it never saw, by
N-way K-shot episodes (nearest class prototype), as mean accuracy with a 95% interval over
``episodes`` episodes. ``fewshot_classes`` names the held-out classes (default: the upper half of
the sorted classes, 5-9 for digits).

Objectives (``--task-option objective=...``):

- ``supcon`` (default for images): every batch holds each sample under two random views (a small affine
  map of the image or signal, `nnrecipe.data.fewshot.random_view`); the loss is a softmax over
  the batch's cosine similarities / ``temperature``, with two terms: the samples of the same
  class (supervised contrastive, Khosla et al. 2020) and the sample's other view (SimCLR's
  NT-Xent, Chen et al. 2020). The second term keeps what tells two samples of one class apart,
  which is what unseen classes need.
- ``contrastive`` (default for signals and tables): pairs of the batch (Hadsell et al. 2006), margin ``margin``.
- ``triplet``: batch-hard triplets (Hermans et al. 2017), margin ``margin``.

Why supcon is the default, measured on digits (train 0-4, 5-way 1-shot on 5-9, valid split,
seed 0, 15 epochs; input-space nearest neighbour 0.720, untrained net 0.64): the pair and
triplet losses on the residual CNN gave 0.45 / 0.48 (after 1 epoch already 0.39 for an MLP:
the 5 training classes are 5 points, and the unseen classes are squeezed between them; 1.00 on
episodes of the training classes). Contrastive margins 1.0 / 1.4: 0.40 / 0.41. On the residual
CNN (global average pool: the layout of the 8x8 image is lost): NCA-style softmax 0.47,
prototypical 0.49, + a uniformity term 0.49, SimCLR views 0.47-0.61. MLP: NCA 0.53, + uniformity
0.67, SimCLR views 0.55-0.67. A linear embedding: 0.71-0.73. The layout-keeping conv embedding
(`nnrecipe.models.fewshot.ConvEmbedding`): contrastive 0.53, NCA 0.60, NCA + uniformity 0.67,
supcon with affine views 0.775 (0.753 at temperature 0.2 with the class term x0.3). The views
do the work, not the labels: the class term's positives include the sample's other view, which
soon holds nearly all of their probability, so the loss acts almost like SimCLR alone (0.773
without the class term; a class term without the own view 0.743, SupCon's L_out 0.546 alone,
0.741 with the instance term). 5 training classes teach little that carries over to 5 others;
invariance to small affine maps does. Side effect: episodes on the training classes score low
(0.53 after 20 epochs, input space 0.77), so Ng's train row reads as underfitting.
Learner defaults (20 epochs, batch 64, seed 0, test split): 0.747; 40 epochs 0.763, dim 128
0.760, width 64 0.757, temperature 0.05 / 0.2: 0.736 / 0.740, views x1.5 stronger 0.720, x0.5
weaker 0.680. bench/fewshot.py, 3 seeds: 0.755 +- 0.009 vs input space 0.722 +- 0.007.

Options: ``fewshot_classes``, ``objective`` (supcon, contrastive, triplet), ``margin``,
``temperature``, ``dim`` (embedding size), ``ways``, ``shots``, ``episodes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks.base import LossFn, MeanLoss, Task

LOSSES = ("supcon", "contrastive", "triplet")
# On unit-length embeddings (distances 0..2); supcon has a temperature instead.
MARGINS = {"supcon": None, "contrastive": 0.5, "triplet": 0.2}
TEMPERATURE = 0.1
DIM = 64
BATCH = 64  # samples per batch (each twice under supcon): ~13 per class on 5 classes
OPTIONS = (
    "fewshot_classes",
    "objective",
    "margin",
    "temperature",
    "dim",
    "ways",
    "shots",
    "episodes",
)
MAX_QUERIES = 15
EPISODE_SEED = 12345  # the same episodes at every evaluation: epochs compare fairly


def _pair_distances(out: Tensor) -> Tensor:
    e = F.normalize(out.float().reshape(len(out), -1), dim=1)
    # sqrt with a floor: the gradient of sqrt at 0 (identical embeddings) is infinite.
    return ((e[:, None] - e[None]) ** 2).sum(-1).clamp_min(1e-12).sqrt()


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
        loss: str = "supcon",
        margin: float | None = None,
        temperature: float = TEMPERATURE,
        dim: int = DIM,
        ways: int = 5,
        shots: int = 1,
        episodes: int = 1000,
    ) -> None:
        self.num_classes = num_classes
        self.classes = classes or [str(i) for i in range(num_classes)]
        self.held_out = list(held_out or [])
        self.loss = loss
        default = MARGINS[loss]
        self.margin = default if margin is None else float(margin)
        self.temperature = float(temperature)
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
        # supcon's views are affine maps of images; signals and tables default to pairs
        # (mnist1d, seed 0, 15 epochs: contrastive 0.55, supcon 0.45, input space 0.25).
        image = x_shape is not None and len(tuple(x_shape)) == 3
        loss_name = str(options.get("objective", "supcon" if image else "contrastive"))
        if loss_name not in LOSSES:
            raise DataError(f"Unknown objective {loss_name!r} for task 'few-shot': use {LOSSES}.")
        return cls(
            num,
            names,
            held_out=held,
            loss=loss_name,
            margin=options.get("margin"),
            temperature=float(options.get("temperature", TEMPERATURE)),
            dim=int(options.get("dim", DIM)),
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
        return MeanLoss(self)

    def target_dtype(self) -> torch.dtype:
        return torch.long

    def default_batch_size(self, n_train: int) -> int | None:
        return min(BATCH, max(2, n_train)) if self.loss == "supcon" else None

    def train_batches(
        self,
        split: Any,
        batch_size: int,
        *,
        generator: torch.Generator,
        drop_last: bool,
        pin_memory: bool = False,
    ) -> Iterator[tuple[Any, Tensor]]:
        """Under supcon, each sample twice under two random views, targets (2B, 2) = (class,
        sample); otherwise the split's batches."""
        if self.loss != "supcon":
            return super().train_batches(
                split, batch_size, generator=generator, drop_last=drop_last, pin_memory=pin_memory
            )
        from nnrecipe.data.fewshot import two_view_batches

        return two_view_batches(split, batch_size, generator=generator, drop_last=drop_last)

    def _supcon(self, output: Tensor, target: Tensor) -> Tensor:
        e = F.normalize(output.float().reshape(len(output), -1), dim=1)
        y = target[:, 0] if target.ndim == 2 else target.reshape(-1)
        eye = torch.eye(len(y), dtype=torch.bool, device=e.device)
        logp = ((e @ e.T) / self.temperature).masked_fill(eye, -1e9).log_softmax(1)
        # (N, N) log-probability of each other sample; a term is -log P(a positive), 0 for a
        # sample with no positive in the batch.
        loss = torch.zeros(len(y), device=e.device)
        groups = [y] + ([target[:, 1]] if target.ndim == 2 else [])
        for g in groups:
            pos = (g[:, None] == g[None]) & ~eye
            term = -torch.logsumexp(logp.masked_fill(~pos, -1e9), 1)
            loss = loss + torch.where(pos.any(1), term, torch.zeros_like(term))
        return loss

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """(N,) each sample's share of the batch's pair (or triplet) loss."""
        if self.loss == "supcon":
            return self._supcon(output, target)
        d = _pair_distances(output)
        y = target[:, 0] if target.ndim == 2 else target.reshape(-1)
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
        if code == "margin-never-active" and self.margin is None:
            return False  # supcon: a softmax over the batch, no margin
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

    # Train episodes are drawn from the training classes, valid and test episodes from unseen
    # ones: different problems (supcon on digits scores 0.53 on the first, 0.75 on the second).
    train_error_comparable = False

    def baselines_to_beat(self) -> tuple[str, ...]:
        # A classifier's penultimate layer is a competing embedding, not a floor.
        return ("input-space", "untrained")

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
            "temperature": self.temperature,
            "dim": self.dim,
            "ways": self.ways,
            "shots": self.shots,
            "episodes": self.episodes,
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> FewShot:
        keys = ("held_out", "loss", "margin", "temperature", "dim", "ways", "shots", "episodes")
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
