"""What a task is: everything a stage needs to know about "what is predicted".

Every stage asks the data's `Task`; none tests its kind. A new task (segmentation with Dice,
CRPS for predicted distributions, ...) is one module with a `Task` subclass registered in
`nnrecipe.tasks.TASKS`. The methods fall in groups, by the stage that asks:

- data: `accepts` / `build` (which targets the task takes, and the task object for them),
  `prepare_targets`, `validate`, `stratify`, `arrange` (re-split, e.g. by class);
- train: `output_size`, `default_loss`, `metrics`, `model_metrics`, `predict`,
  `per_sample_loss`, `augment`, `epoch_size` / `train_batches` (examples drawn per epoch);
- models: `init_output` (the built-in head's bias / scale from the prior or target mean);
- checks: `expected_init_loss`, `prior_output`, `uniform_output`, `init_loss_limits`,
  `floor_candidates`, `perturb_targets`, `output_mismatch`, `blank_inputs`, `applies`;
- baselines: `baselines`, `baselines_to_beat`; monitor: `record`; ensemble: `average`; diagnose: `error`;
- report: `describe` / `from_description`, `collect` (what the report stores while the model
  is in memory), `inspect` (what it stores from the model itself: embeddings, biases),
  `plots`, `report_results` (the task's own results section).

Defaults here suit a task whose targets are one value per sample; subclasses override.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from nnrecipe.errors import DataError

LossFn = Callable[[Tensor, Tensor], Tensor]


class MeanLoss:
    """A task's training loss: its `per_sample_loss` averaged over the batch (a class, not a
    closure, so that tune workers can pickle it)."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return self.task.per_sample_loss(output, target).mean()


class Task:
    """Base class of the tasks. Subclasses set `name`, `primary_metric`, `higher_is_better`
    and implement the methods below. Constructors only store."""

    name: ClassVar[str] = "task"
    primary_metric: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False
    # What a model "predicting the prior" outputs, for messages: "log(class prior) logits".
    prior_name: ClassVar[str] = "the prior"
    # One line for error messages and the CLI help: which targets the task takes.
    targets_doc: ClassVar[str] = ""
    # Whether inference may pick this task without the user naming it, and in which order
    # (lower first). Tasks that cannot be told from the targets alone are never inferred.
    infer_order: ClassVar[int | None] = None
    # True when the loss compares the samples of a batch with each other by design (pair and
    # triplet losses): the check that a per-sample loss does not mix samples is then skipped.
    loss_pairs_samples: ClassVar[bool] = False

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        """None if this task can take targets `y` for inputs of per-sample shape `x_shape`,
        else the reason it cannot (one clause, for error messages)."""
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
    ) -> Task:
        """The task object for these training targets (raises `DataError` when it cannot)."""
        raise NotImplementedError

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:
        """Targets in the dtype and layout the loss wants (e.g. long class indices)."""
        return y

    def validate(self, splits: dict[str, Any]) -> None:
        """Raise `DataError` when a split's targets do not fit the task built from train."""

    def stratify(self, y: Tensor) -> np.ndarray | None:
        """Labels to stratify splits on, or None."""
        return None

    def arrange(self, splits: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
        """The splits this task trains and scores on, from the splits made by sample (default:
        unchanged). A task that holds out whole classes (few-shot) re-splits here."""
        return splits

    # -- train --------------------------------------------------------------------------------
    def output_size(self) -> int:
        """Number of outputs (channels) a built-in model produces per sample (or per pixel)."""
        raise NotImplementedError

    def default_loss(self) -> LossFn:
        """The loss used when the user gives none."""
        raise NotImplementedError

    def weighted_loss(self, y_train: Tensor) -> LossFn:
        """The default loss weighted for imbalanced targets (``class_weights="balanced"``)."""
        raise DataError(
            f"class_weights='balanced' needs class labels; the task {self.name!r} has none: "
            "drop the option."
        )

    def target_dtype(self) -> torch.dtype:
        raise NotImplementedError

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        """Metrics over a whole split, from raw model outputs (logits / values)."""
        raise NotImplementedError

    def predict(self, output: Tensor) -> Tensor:
        """Predictions (class labels, values, masks) from raw outputs."""
        raise NotImplementedError

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """(N,) loss of each sample under the task's default loss (top losses, probes)."""
        raise NotImplementedError

    def epoch_size(self, split: Any) -> int:
        """Training examples per epoch (the schedule's step count comes from it)."""
        return len(split)

    def train_batches(
        self,
        split: Any,
        batch_size: int,
        *,
        generator: torch.Generator,
        drop_last: bool,
        pin_memory: bool = False,
    ) -> Iterator[tuple[Any, Tensor]]:
        """One epoch of shuffled training batches (default: the split's samples; a task that
        draws its examples anew each epoch, like skip-gram windows, overrides it)."""
        return split.batches(
            batch_size,
            shuffle=True,
            generator=generator,
            drop_last=drop_last,
            pin_memory=pin_memory,
        )

    def model_metrics(self, model: Any) -> dict[str, float]:
        """Metrics of the model itself, the same for every split (word vectors against human
        judgements); merged into every split's metrics. Default: none."""
        return {}

    def augment(
        self, x: Any, y: Tensor, generator: torch.Generator, *, strength: float = 1.0
    ) -> tuple[Any, Tensor]:
        """Default augmentation of a training batch (none); tasks whose targets move with the
        input (masks) transform both together, at `strength` in [0, 1], drawing every random
        number from `generator`. A task that overrides this gets it instead of the modality's
        input-only augmentation (`nnrecipe.tune.augment.make_augment`)."""
        return x, y

    def default_batch_size(self, n_train: int) -> int | None:
        """The batch size when the user gives none; None: the Learner's choice from the
        training-set size (`nnrecipe.train.learner.auto_batch_size`)."""
        return None

    # -- models -------------------------------------------------------------------------------
    def default_model(self, modality: str) -> str | None:
        """The built-in model (a name in `nnrecipe.models.MODELS`) for this task, or None for
        the modality's default (mlp / cnn1d / cnn2d)."""
        return None

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        """How to set a built-in model's last layer: ``{"bias": ...}`` and/or ``{"scale": ...}``."""
        raise NotImplementedError

    # -- checks -------------------------------------------------------------------------------
    def expected_init_loss(self, y_train: Tensor) -> float:
        """The loss a well-initialised model has before training (what `loss-at-init` compares)."""
        raise NotImplementedError

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        """The output a well-initialised model gives, shaped like `out` (None: unknown)."""
        return None

    def uniform_output(self, out: Tensor) -> Tensor | None:
        """Another healthy output at init (zero logits), or None."""
        return None

    def init_loss_limits(self, ref: float, healthy_upper: float) -> tuple[float, float]:
        """(warning, error) limits for the loss at init, given the prior's loss `ref` and the
        highest loss of a healthy init."""
        return 3.0 * ref, 100.0 * ref

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        """Outputs a perfect model could give (the lowest loss any of them reaches is the
        floor `cannot-overfit-batch` compares with)."""
        if y.numel() == out.numel():
            return [y.float().reshape(out.shape)]
        return []

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        """`y` with the targets from `start` on changed to other valid targets."""
        y2 = y.clone().float()
        y2[start:] = y[start:].float().flip(0) + y.float().std().clamp_min(1e-3)
        return y2

    def output_mismatch(self, out: Tensor, y: Tensor) -> tuple[int, int] | None:
        """(outputs, expected) when the model's output count cannot fit the targets."""
        return None

    def blank_inputs(self, x: Any) -> Any:
        """Inputs of the same shapes carrying no information, for `input-ignored` (floats
        zeroed; integer codes kept, as a table's categories are also inputs)."""
        from nnrecipe.data.batch import batch_zeros

        return batch_zeros(x)

    # Baselines are fitted on at most this many training samples (None: all of them).
    baseline_samples: ClassVar[int | None] = 5000

    def applies(self, code: str) -> bool:
        """Whether an audit or check code makes sense for this task (others say so, not run)."""
        return True

    def labels_for_audit(self, y: Tensor) -> Tensor | None:
        """One class label per sample for the label audits (noise, imbalance), or None."""
        return None

    # -- baselines ----------------------------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        """Baseline estimators ``{name: estimator}``: `fit(x, y)` on flattened numpy train
        arrays, `output(x) -> Tensor` of raw outputs the task's `metrics` can score."""
        return {}

    def baselines_to_beat(self) -> tuple[str, ...]:
        """The names in `baselines` a trained model must beat on the valid split, else
        `below-baseline` (default: all of them). A task leaves out a baseline that is a strong
        competitor rather than a floor (a classifier's penultimate layer for few-shot)."""
        return tuple(self.baselines())

    # -- monitor / ensemble / diagnose --------------------------------------------------------
    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        """Prediction dynamics on the monitor's fixed batch: ``{"predicted": [...], ...}``."""
        return {}

    def average(self, outputs: list[Tensor]) -> Tensor:
        """Combine ensemble members' raw outputs into one raw output."""
        return torch.stack([o.float() for o in outputs]).mean(0)

    def error(self, metrics: dict[str, float]) -> float:
        """The single error (lower is better) that Ng's table and the tuner work on."""
        value = float(metrics[self.primary_metric])
        return 1.0 - value if self.higher_is_better else value

    @property
    def error_in_target_units(self) -> bool:
        """True when `error` is in the targets' own units (rmse), not a rate in [0, 1]."""
        return False

    # True when the train split's error measures the same thing as the valid split's, so that
    # Ng's train row judges avoidable bias and train -> valid is variance. False for a task scored
    # on classes it never trained on (few-shot): the diagnosis then judges bias from the valid
    # error and shows no variance gap.
    train_error_comparable: bool = True

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "primary_metric": self.primary_metric}

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Task:
        """The task back from `describe()` (the run folder's config), for the report."""
        raise NotImplementedError

    def data_summary(self, data: Any) -> dict[str, Any]:
        """What the report's data section shows about the targets (class counts, histograms)."""
        return {}

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        """Results the report stores while the model is in memory (valid split): per-class
        metrics, top losses... `sample(position)` returns the row for one valid sample (its
        index, file and thumbnail)."""
        return {}

    def inspect(self, model: Any, data: Any) -> dict:
        """Results the report reads from the trained model itself (embedding maps, learned
        biases), merged into what `collect` stored; by default the data's own report parts
        (a table's rows and embedding maps, `nnrecipe.tasks.table_report`)."""
        from nnrecipe.tasks import table_report

        return table_report.inspect(model, data)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        """The task's result plots for the valid split, written into `folder`."""
        return []

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        """HTML of the task's own results section (escaped), from what `collect` stored."""
        return ""

    def better(self, a: float, b: float) -> bool:
        """True if metric value `a` is better than `b` for the primary metric."""
        return a > b if self.higher_is_better else a < b
