"""Tasks: what is predicted and how it is scored. One module per task, registered in `TASKS`.

`make_task` builds a task by name, `infer_task` picks one from the targets (in each task's
`infer_order`), and `task_from_description` rebuilds one from a run folder's config.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks.base import LossFn, Task
from nnrecipe.tasks.classification import Classification
from nnrecipe.tasks.distribution import Distribution
from nnrecipe.tasks.fewshot import FewShot
from nnrecipe.tasks.losses import _BCE_NAMES, _CE_NAMES, loss_name, wants_float_targets
from nnrecipe.tasks.ratings import Ratings
from nnrecipe.tasks.regression import Regression
from nnrecipe.tasks.segmentation import Segmentation
from nnrecipe.tasks.word_vectors import WordVectors

__all__ = [
    "TASKS",
    "Task",
    "Classification",
    "Distribution",
    "FewShot",
    "Regression",
    "Segmentation",
    "Ratings",
    "WordVectors",
    "LossFn",
    "infer_task",
    "make_task",
    "reconcile",
    "register",
    "task_from_description",
    "task_names",
]

# name -> Task subclass. A new task registers itself here (see README, "How to add a task").
TASKS: dict[str, type[Task]] = {
    "classification": Classification,
    "regression": Regression,
    "segmentation": Segmentation,
    "ratings": Ratings,
    "distribution": Distribution,
    "few-shot": FewShot,
    "word-vectors": WordVectors,
}
# Older names accepted on input.
ALIASES = {"binary": "classification", "multiclass": "classification", "collab": "ratings"}


def register(cls: type[Task]) -> type[Task]:
    """Add a Task subclass to the registry under its `name` (usable as a class decorator)."""
    TASKS[cls.name] = cls
    return cls


def task_names() -> list[str]:
    return list(TASKS)


def _lookup(name: str) -> type[Task]:
    key = ALIASES.get(name, name)
    if key not in TASKS:
        raise DataError(f"Unknown task {name!r}: use one of {', '.join(TASKS)}.")
    return TASKS[key]


def _refusal(name: str, x_shape: Any, y: Tensor, reason: str, loss: Any) -> DataError:
    fits = [
        n for n, cls in TASKS.items() if n != name and cls.accepts(x_shape, y, loss=loss) is None
    ]
    hint = (
        f"task={fits[0]!r} takes targets like these"
        if fits
        else "give targets in the form the task takes"
    )
    return DataError(
        f"Task {name!r} cannot take targets of shape {tuple(y.shape)} (dtype "
        f"{str(y.dtype).replace('torch.', '')}) for inputs of shape {x_shape}: {reason}; {hint}."
    )


def make_task(
    name: str,
    y_train: Tensor,
    classes: list[str] | None = None,
    *,
    x_shape: Any = None,
    loss: Any = None,
    **options: Any,
) -> Task:
    """Build the task named `name` for these training targets; targets it cannot take raise a
    one-sentence `DataError` naming the shapes and the tasks that would take them."""
    cls = _lookup(name)
    reason = cls.accepts(x_shape, y_train, loss=loss)
    if reason is not None and not (cls is Classification and wants_float_targets(loss)):
        raise _refusal(cls.name, x_shape, y_train, reason, loss)
    return cls.build(y_train, x_shape=x_shape, classes=classes, loss=loss, **options)


def infer_task(
    y_train: Tensor,
    *,
    loss: object = None,
    classes: list[str] | None = None,
    x_shape: Any = None,
) -> Task:
    """The task the targets call for, never a silent guess.

    Tasks that can be told from the targets are tried in their `infer_order` (segmentation
    masks, then class labels, then real values). The loss decides between the readings of
    ambiguous targets: ``BCEWithLogitsLoss`` with 0/1 float targets is binary classification,
    ``CrossEntropyLoss`` integer labels. Float targets are regression unless class names are
    given.
    """
    name = loss_name(loss)
    if name in _BCE_NAMES:
        task = make_task("classification", y_train.round(), classes, x_shape=x_shape, loss=loss)
        if name in ("BCELoss", "binary_cross_entropy"):  # the model outputs probabilities
            task.outputs = "probabilities"  # type: ignore[attr-defined]
        return task
    ordered = sorted(
        (c for c in TASKS.values() if c.infer_order is not None),
        key=lambda c: c.infer_order,  # type: ignore[arg-type, return-value]
    )
    float_targets = y_train.is_floating_point() and classes is None and name not in _CE_NAMES
    reasons = []
    for cls in ordered:
        if float_targets and cls is Classification:
            continue  # float targets are values unless the loss or class names say labels
        reason = cls.accepts(x_shape, y_train, loss=loss)
        if reason is None:
            return cls.build(y_train, x_shape=x_shape, classes=classes, loss=loss)
        reasons.append(f"{cls.name}: {reason}")
    raise DataError(
        f"No task takes targets of shape {tuple(y_train.shape)} for inputs of shape {x_shape} "
        f"({'; '.join(reasons)}): pass task= with one of {', '.join(TASKS)}."
    )


def task_from_description(desc: dict[str, Any] | None) -> Task:
    """The task recorded in a run folder (`Task.describe()`), for the report and diagnose."""
    desc = desc or {}
    name = desc.get("name") or desc.get("kind") or "classification"
    if name in ALIASES:
        name = ALIASES[name]
    if name not in TASKS:
        raise DataError(
            f"The run folder records task {name!r}, which this nnrecipe does not know: "
            f"upgrade nnrecipe or rebuild the run (known: {', '.join(TASKS)})."
        )
    return TASKS[name].from_description(desc)


def reconcile(task: Task, y_train: Tensor, loss: Any, *, x_shape: Any = None) -> Task:
    """The data's task, re-read when the user's loss implies another reading of the targets
    (binary cross-entropy on 0/1 floats, cross-entropy on whole-number floats)."""
    name = loss_name(loss)
    if name in _BCE_NAMES or (name in _CE_NAMES and not isinstance(task, Classification)):
        classes = getattr(task, "classes", None)
        return infer_task(y_train, loss=loss, classes=classes, x_shape=x_shape)
    return task
