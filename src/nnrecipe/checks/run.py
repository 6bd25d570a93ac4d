"""`nr.check`: run every sanity check on a model + data + loss + optimizer before training."""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.checks import context, data_checks, forward, gradients, modes, probes, training
from nnrecipe.checks import distribution as distribution_checks
from nnrecipe.checks import fewshot as fewshot_checks
from nnrecipe.checks import transfer as transfer_checks
from nnrecipe.checks import word_vectors as word_vector_checks
from nnrecipe.checks.codes import CODES
from nnrecipe.checks.context import (
    WALL_FACTOR,
    BudgetExceeded,
    Context,
    UserCodeError,
    _jsonable,
    sample_sizes,
)
from nnrecipe.data import Data
from nnrecipe.data.batch import batch_len, batch_take, sample_shape, tensors_of
from nnrecipe.data.core import as_tensor
from nnrecipe.errors import ConfigError, DataError, ModelError
from nnrecipe.findings import Finding, Result, Severity, code_applies
from nnrecipe.tasks import ALIASES, make_task, reconcile
from nnrecipe.train.optim import adamw

# Order matters: cheap checks on one forward pass first; checks that train copies of the model
# last, and only when the forward pass works and its outputs fit the targets.
FORWARD_CHECKS = [
    data_checks.non_finite,
    forward.shape_mismatch,
    data_checks.input_scale,
    data_checks.target_scale,
    forward.loss_at_init,
    modes.unregistered_params,
    modes.random_eval_outputs,
    forward.batch_dependency,
    transfer_checks.head_size,  # pretrained models only, like the two below
    transfer_checks.pretrained_input_scale,
]
TRAINING_CHECKS = [
    gradients.params_not_updated,
    gradients.vanishing_gradients,
    gradients.exploding_gradients,
    training.lr_too_high,
    training.lr_too_low,
    training.cannot_overfit_batch,
    forward.output_is_probability,
    training.input_ignored,
    training.weight_decay_too_high,
    gradients.dead_units,
    modes.train_eval_mismatch,
    *distribution_checks.CHECKS,  # tasks=("distribution",): other tasks skip them
    *fewshot_checks.CHECKS,  # tasks=("few-shot",)
    *word_vector_checks.CHECKS,  # tasks=("word-vectors",)
    transfer_checks.body_lr_too_high,
    transfer_checks.lr_auto,  # last: marks the --lr auto rate on the range test's record
]
# The default time budget of `check`, in wall-clock seconds: the ceiling for a shared
# 2-core machine. Probes are planned from the measured cost of one training step and skipped
# (and named) when they would not fit.
DEFAULT_BUDGET = 30.0


def check(
    model: nn.Module,
    data: Any,
    *,
    task: str | None = None,
    loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    optimizer: Callable[[Any], torch.optim.Optimizer] | None = None,
    seed: int = 0,
    budget: float | None = None,
) -> Result:
    """Find the silent bugs in a model + data + loss + optimizer before training.

    Runs one forward/backward pass at init, a few steps of the optimizer, a learning-rate range
    test, an overfit-one-batch test and a real-vs-zeroed-inputs test, all on copies of the
    model and on fixed-size samples of the data (the cost does not grow with the training set).

    Args:
        model: the `torch.nn.Module` about to be trained; never modified (checks use copies).
        data: an `nr.Data`, or a tuple ``(x_train, y_train, x_valid, y_valid)``.
        task: ``"classification"`` or ``"regression"``; default: inferred from the targets and
            the loss.
        loss: a callable ``(output, target) -> scalar``; default: the task's.
        optimizer: a factory ``params -> torch.optim.Optimizer``; default AdamW(3e-3, 1e-2).
        seed: seeds the samples, copies and probes.
        budget: the time budget in seconds (default 30, or ``NNRECIPE_CHECK_BUDGET``). Each
            probe is planned from the measured cost of one training step; checks whose probes
            would not fit are skipped and named in an info finding (``model-error``) and in
            ``stats["skipped"]``.

    Returns:
        A `Result` whose findings carry the codes listed by ``nnrecipe explain``; ``.ok`` is
        true when none is an error. ``stats`` holds the measurements (loss at init, range test
        curve, gradient profile, ...).

    Raises:
        ModelError: `model` is not an ``nn.Module`` or cannot be copied. A crash inside the
            model, loss or optimizer does not raise: it becomes a finding quoting the exception.

    Example:
        >>> import torch, nnrecipe as nr
        >>> data = nr.datasets.load("iris")
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
        >>> "output-is-probability" in nr.check(model, data).codes
        True
    """
    t0, work0 = time.perf_counter(), context.work_clock()
    budget = _budget(budget)
    if not isinstance(model, nn.Module):
        raise ModelError(f"check needs a torch.nn.Module, got {type(model).__name__}.")
    try:
        pristine = copy.deepcopy(model)
    except Exception as e:  # noqa: BLE001
        raise ModelError(
            f"The model cannot be deep-copied ({type(e).__name__}: {e}); check works "
            "on copies so as not to touch your model."
        ) from e
    result = Result(stage="checks")
    # The user's code may warn on every probe call (e.g. MSE broadcasting): keep each once.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(seed)
        try:
            ctx = _context(
                model, pristine, data, task=task, loss=loss, optimizer=optimizer, seed=seed
            )
        except DataError as e:
            result.findings.append(
                Finding(
                    "shape-mismatch",
                    Severity.ERROR,
                    str(e),
                    {},
                    "Fix the data so that inputs and targets fit (see the message).",
                )
            )
            return result
        ctx.deadline = work0 + budget
        ctx.wall_deadline = t0 + WALL_FACTOR * budget
        ctx.stats["seconds"] = {}
        ctx.stats["budget_seconds"] = budget
        ctx.stats["samples"] = {"train": batch_len(ctx.x), "heldout": batch_len(ctx.xv)}
        _run(ctx, FORWARD_CHECKS, result)
        # Model-level NaN/Inf and crashes set ctx.broken; NaN rows in the data were left out
        # of the samples, so they do not block.
        blocked = [
            f
            for f in result.findings
            if f.code == "shape-mismatch" and f.severity == Severity.ERROR
        ]
        if not any(p.requires_grad for p in ctx.model.parameters()):
            ctx.broken = "the model has no trainable parameters"
            result.findings.append(
                ctx.finding(
                    "params-not-updated",
                    "error",
                    "The model has no trainable parameters (none, or all with requires_grad=False): "
                    "training cannot change it.",
                    {"parameters": sum(1 for _ in ctx.model.parameters())},
                )
            )
        _plan(ctx)
        if ctx.broken or blocked:
            ctx.stats["skipped"] = [fn.__name__ for fn in TRAINING_CHECKS]
            ctx.stats["skipped_because"] = ctx.broken or blocked[0].message
        else:
            _run(ctx, TRAINING_CHECKS, result)
        over = ctx.stats.get("over_budget")
        if over:
            result.findings.append(
                ctx.finding(
                    "model-error",
                    "info",
                    f"Within the {budget:g} s time budget, {len(over)} checks were skipped "
                    f"({', '.join(over)}): {next(iter(over.values()))}. One training step of the "
                    f"model takes about {ctx.step_seconds:.2g} s.",
                    {"skipped": over, "budget_seconds": budget, "step_seconds": ctx.step_seconds},
                    "Pass a larger budget (nr.check(..., budget=120)) to run every check.",
                )
            )
    ctx.stats["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:20]
    ctx.stats["total_seconds"] = time.perf_counter() - t0
    ctx.stats["work_seconds"] = context.work_clock() - work0
    ctx.stats["configured_lr"] = ctx.lr
    result.stats = _jsonable(ctx.stats)
    return result


def _plan(ctx: Context) -> None:
    """Shrink the training probes when their full plan does not fit the time left."""
    need = probes.plan_steps(ctx) * ctx.step_seconds
    left = 0.9 * ctx.remaining()
    if need > left > 0:
        ctx.scale = max(probes.MIN_SCALE, left / need)
    ctx.stats["plan"] = {
        "steps": probes.plan_steps(ctx),
        "step_seconds": ctx.step_seconds,
        "step_wall_seconds": ctx.step_wall,
        "scale": ctx.scale,
    }


def _run(ctx: Context, checks: list[Callable[[Context], list[Finding]]], result: Result) -> None:
    for fn in checks:
        if ctx.broken and fn not in (data_checks.input_scale, data_checks.target_scale):
            continue
        if not code_applies(fn.__name__.replace("_", "-"), ctx.task):
            ctx.stats.setdefault("not_applicable", []).append(fn.__name__.replace("_", "-"))
            continue
        t = time.perf_counter()
        try:
            result.extend(fn(ctx))
        except BudgetExceeded as e:
            ctx.stats.setdefault("over_budget", {})[fn.__name__] = str(e)
            ctx.stats.setdefault("skipped", []).append(fn.__name__)
        except UserCodeError as e:
            if not (e.where == "optimizer" and ctx.factory_failed):
                result.extend([_crash_finding(ctx, fn.__name__, e)])
        except Exception as e:  # noqa: BLE001 - an input this check cannot handle: say so, go on
            code = fn.__name__.replace("_", "-")
            ctx.stats.setdefault("check_errors", {})[fn.__name__] = f"{type(e).__name__}: {e}"
            result.extend(
                [
                    ctx.finding(
                        code if code in CODES else "shape-mismatch",
                        "info",
                        f"The {fn.__name__} check could not run ({type(e).__name__}: {e}).",
                        {"check": fn.__name__},
                    )
                ]
            )
        ctx.stats["seconds"][fn.__name__] = round(time.perf_counter() - t, 3)


def _crash_finding(ctx: Context, check_name: str, e: UserCodeError) -> Finding:
    """A crash in user code becomes a finding; the model is not probed further."""
    shape = sample_shape(ctx.x)
    if e.where == "optimizer":
        ctx.factory_failed = True  # later probes fall back to AdamW
        return ctx.finding(
            "params-not-updated",
            "error",
            f"The optimizer failed ({e.quote()}) while the {check_name} check used it.",
            {"exception": e.quote(), "check": check_name},
            "Pass a factory params -> torch.optim.Optimizer, e.g. lambda p: torch.optim.AdamW(p, lr=3e-3).",
        )
    ctx.broken = f"the {e.where} crashed"
    ev = {"exception": e.quote(), "where": e.where, "check": check_name, "input_shape": list(shape)}
    where = f"on a batch of inputs of shape (N, {', '.join(map(str, shape))})"
    if check_name == "batch_dependency":  # it ran on the first batch, not on a smaller one
        code, fix = "batch-dependency", None
    elif e.where == "model":
        # The model's own failure (wrong input width, a bug in forward), not a mismatch between
        # outputs and targets.
        code, fix = "model-error", None
    else:
        code = "shape-mismatch"
        fix = (
            "Run the model and loss on one batch by hand and fix the error; the shapes and dtypes "
            "of outputs and targets must fit the loss (see `nnrecipe explain shape-mismatch`)."
        )
    return ctx.finding(
        code,
        "error",
        f"The {e.where} crashed {where} during the {check_name} check: {e.quote()}.",
        ev,
        fix,
    )


def _context(
    original: nn.Module,
    pristine: nn.Module,
    data: Any,
    *,
    task: str | None,
    loss: Any,
    optimizer: Any,
    seed: int,
) -> Context:

    dropped: dict[str, int] = {}
    data = Data.coerce(_drop_nonfinite_targets(data, dropped), task=task, loss=loss)
    if task is not None and ALIASES.get(task, task) != data.task.name:
        task_obj = make_task(task, data.train.targets(), x_shape=data.input_shape, loss=loss)
    elif task is None:
        task_obj = reconcile(data.task, data.train.targets(), loss, x_shape=data.input_shape)
    else:
        task_obj = data.task
    gen = torch.Generator().manual_seed(seed)
    n_train, n_valid = sample_sizes(pristine)
    x, y, bad = _sample(data.train, n_train, gen)
    if bad:
        dropped["train inputs"] = bad
    valid = data.valid if "valid" in data.splits else data.train
    xv, yv, bad_v = _sample(valid, n_valid, gen)
    if bad_v:
        dropped["valid inputs"] = bad_v
    # The dtype the loss expects (binary cross-entropy wants float 0/1 targets).
    y, yv = task_obj.prepare_targets(y, loss=loss), task_obj.prepare_targets(yv, loss=loss)
    try:
        device = next(pristine.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    factory = optimizer or adamw()
    ctx = Context(
        original=original,
        model=pristine,
        data=data,
        task=task_obj,
        loss_fn=loss or task_obj.default_loss(),
        factory=factory,
        lr=math.nan,
        seed=seed,
        device=device,
        x=x,
        y=y,
        xv=xv,
        yv=yv,
        dropped=dropped,
    )
    ctx.lr, ctx.weight_decay = _configured_lr(ctx)
    return ctx


def _budget(budget: float | None) -> float:
    if budget is None:
        env = os.environ.get("NNRECIPE_CHECK_BUDGET")
        try:
            budget = float(env) if env else DEFAULT_BUDGET
        except ValueError:
            raise ConfigError(
                f"NNRECIPE_CHECK_BUDGET must be a number of seconds, got {env!r}."
            ) from None
    if not (isinstance(budget, int | float) and budget > 0):
        raise ConfigError(f"check's budget must be a positive number of seconds, got {budget!r}.")
    return float(budget)


def _configured_lr(ctx: Context) -> tuple[float, float]:
    """The largest group learning rate and weight decay of the user's optimizer."""
    lr = getattr(ctx.factory, "lr", None)
    try:
        opt, _ = ctx.optimizer(ctx.fresh())
        # The largest group lr: a group at lr 0 is params-not-updated's business.
        wd = max((float(g.get("weight_decay", 0.0) or 0.0) for g in opt.param_groups), default=0.0)
        return (
            max(float(g["lr"]) for g in opt.param_groups) if opt.param_groups else float(lr or 3e-3)
        ), wd
    except (UserCodeError, IndexError, KeyError, TypeError, ValueError):
        return float(lr or 3e-3), 0.0


def _drop_nonfinite_targets(data: Any, dropped: dict[str, int]) -> Any:
    """Tuples with NaN/Inf targets: drop those rows (reported by non-finite) instead of failing."""
    if not isinstance(data, tuple | list) or len(data) not in (4, 6):
        return data

    items = list(data)
    names = ("train", "valid", "test")
    for i in range(0, len(items), 2):
        if items[i] is None or items[i + 1] is None:
            continue
        x, y = as_tensor(items[i], "inputs"), as_tensor(items[i + 1], "targets")
        if torch.is_floating_point(y) and y.ndim >= 1 and len(y) == len(x):
            ok = torch.isfinite(y.reshape(len(y), -1)).all(1)
            if not bool(ok.all()):
                dropped[f"{names[i // 2]} targets"] = int((~ok).sum())
                x, y = x[ok], y[ok]
        items[i], items[i + 1] = x, y
    return tuple(items)


def _sample(split: Any, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor, int]:
    """Up to `n` random rows of a split, finite rows only; also the number of non-finite rows
    seen (the whole split when it is in memory and under 2**25 values, else the sample)."""
    if split.in_memory:
        x_all, y_all = split.x, split.y
        idx = torch.randperm(batch_len(x_all), generator=gen)[: n * 2]
        x, y = batch_take(x_all, idx), y_all[idx]
        if sum(t.numel() for t in tensors_of(x_all)) <= 2**25:
            bad = int((~_finite_rows(x_all)).sum())
        else:
            bad = None
    else:
        x, y = split.tensors(max_samples=n * 2)
        bad = None
    ok = _finite_rows(x) & _finite_rows(y)
    if bad is None:
        bad = int((~ok).sum())
    keep = ok.nonzero().reshape(-1)[:n]
    x, y = batch_take(x, keep), y[keep]
    if len(y) == 0:
        raise DataError(
            "Every sampled training row holds NaN/Inf: fill or drop the missing values first."
        )
    return x, y, bad


def _finite_rows(x: Any) -> Tensor:
    """(N,) True where every value of every input tensor of the row is finite."""
    ok = torch.ones(batch_len(x), dtype=torch.bool)
    for t in tensors_of(x):
        if torch.is_floating_point(t) and t.numel():
            ok &= torch.isfinite(t.reshape(len(t), -1)).all(1)
    return ok


__all__ = ["check"]
