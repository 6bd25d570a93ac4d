"""The context every check reads: a pristine copy of the model, fixed data samples, the loss,
the optimizer factory, and cached probes (one forward/backward, a few optimizer steps) shared by
several checks.

Every sample is a fixed number of rows, so the cost of `check` does not grow with the training
set. Nothing here touches the user's model: probes run on deep copies.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.checks.codes import CODES
from nnrecipe.data import Data
from nnrecipe.data.batch import batch_len, batch_take, batch_to, call_model
from nnrecipe.findings import Finding, Severity
from nnrecipe.tasks import Task
from nnrecipe.train.optim import adamw

# Fixed sample sizes: the check costs the same on 1,000 or 1,000,000 training samples.
TRAIN_SAMPLE = 2048
VALID_SAMPLE = 1024
BATCH = 64
# ... except for id inputs: an embedding row learns only from the samples that look it up, so
# the sample (and the input-ignored probe's batches, `probes.input_batch`) grow with the
# largest embedding table: ROW_SAMPLES distinct samples per row, at most MAX_SAMPLE. Measured on
# 20,000 MovieLens ratings (943 users x 1,682 items, `collab`): with 2,048 samples the healthy
# model's input-ignored probe reached t 2.3 (gain 0.10: a false alarm); with 16,000 samples
# (and larger probe batches, `probes.ROW_VISITS`) gain 0.36. Lookups are cheap: 1.6 s vs 3.7 s.
ROW_SAMPLES = 10
MAX_SAMPLE = 65536


def embedding_rows(model: nn.Module) -> int:
    """Rows of the model's largest embedding table (0 without one)."""
    rows = [
        m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
    ]
    return max(rows, default=0)


def sample_sizes(model: nn.Module) -> tuple[int, int]:
    """The fixed training and held-out sample sizes for `model`."""
    train = max(TRAIN_SAMPLE, min(MAX_SAMPLE, ROW_SAMPLES * embedding_rows(model)))
    return train, max(VALID_SAMPLE, train // 4)


class UserCodeError(Exception):
    """The user's model, loss or optimizer raised; `where` says which."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(f"{where}: {type(exc).__name__}: {exc}")
        self.where = where
        self.exc = exc

    def quote(self) -> str:
        text = str(self.exc).strip().splitlines()
        first = text[0] if text else ""
        return f"{type(self.exc).__name__}: {first[:300]}"


# The time budget counts the time this check would take on an idle machine: wall-clock time
# minus the time the process spent waiting for a CPU that other programs held (Linux's
# /proc/self/schedstat run-queue wait; plain wall-clock time elsewhere). Measured on the 2-core
# machine shared with other agents (load average 16-18): wall time 7-8x the CPU time of a
# single-threaded check, nearly all of it run-queue wait; a model that sleeps or waits for I/O
# still uses up the budget. WALL_FACTOR x the budget of plain wall-clock time is a last stop
# (at load average 18 a check of 22 s of work took 300 s of wall-clock time: 10x was too tight).
WALL_FACTOR = 50.0
_SCHEDSTAT = "/proc/self/schedstat"


def _runqueue_wait() -> float:
    try:
        with open(_SCHEDSTAT) as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def work_clock() -> float:
    """Seconds of wall-clock time, less the time spent waiting for a CPU held by others."""
    return time.perf_counter() - _runqueue_wait()


class BudgetExceeded(Exception):
    """The check's time budget would be exceeded; the message says by what."""


def user_call(where: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call user code; any exception becomes a `UserCodeError` naming the culprit."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        raise UserCodeError(where, e) from e


@dataclass
class Context:
    """What the checks share. Built by `nr.check`; each check reads it and returns findings."""

    original: nn.Module  # the user's model: read (parameter identities) but never modified
    model: nn.Module  # a pristine deep copy; probes copy it again with `fresh()`
    data: Data
    task: Task
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    factory: Callable[[Any], torch.optim.Optimizer]
    lr: float  # the configured learning rate (first parameter group of the user's optimizer)
    seed: int
    device: torch.device
    x: Tensor  # fixed training sample, finite rows only
    y: Tensor
    xv: Tensor  # fixed held-out sample
    yv: Tensor
    dropped: dict[str, int] = field(default_factory=dict)  # non-finite rows left out, per split
    stats: dict[str, Any] = field(default_factory=dict)  # measurements for Result.stats
    cache: dict[str, Any] = field(default_factory=dict)
    broken: str | None = None  # why the model cannot be probed further (crash, NaN output)
    factory_failed: bool = False
    weight_decay: float = 0.0  # the largest weight decay of the user's optimizer groups
    deadline: float = math.inf  # work_clock() value after which no probe starts
    wall_deadline: float = math.inf  # time.perf_counter() ceiling (WALL_FACTOR x the budget)
    step_seconds: float = 0.0  # measured work of one training step on a batch of BATCH
    step_wall: float = 0.0  # and its wall-clock time
    scale: float = 1.0  # probes shrink by this factor when the full plan does not fit

    # -- time budget ----------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - work_clock()

    def afford(self, steps: float, what: str) -> None:
        """Raise `BudgetExceeded` unless `steps` training steps (batches of BATCH) fit in the
        time left; the cost per step is measured on the model at init."""
        need = steps * self.step_seconds
        left = self.remaining()
        wall_left = self.wall_deadline - time.perf_counter()
        if need > left or steps * self.step_wall > wall_left:
            raise BudgetExceeded(
                f"{what} needs about {need:.0f} s ({steps:.0f} steps of {self.step_seconds:.2g} s) "
                f"and {max(min(left, wall_left), 0):.0f} s of the time budget are left"
            )

    # -- helpers ------------------------------------------------------------------------------
    def fresh(self) -> nn.Module:
        """A new copy of the untrained model, in train mode."""
        m = copy.deepcopy(self.model)
        m.train()
        return m

    def batch(self, i: int = 0, size: int = BATCH) -> tuple[Tensor, Tensor]:
        """The i-th batch of the fixed training sample (wrapping around)."""
        n = batch_len(self.x)
        size = min(size, n)
        start = (i * size) % n
        idx = torch.arange(start, start + size) % n
        return batch_to(batch_take(self.x, idx), self.device), self.y[idx].to(self.device)

    def finding(
        self,
        code: str,
        severity: str,
        message: str,
        evidence: dict[str, Any] | None = None,
        fix: str | None = None,
    ) -> Finding:
        return Finding(
            code,
            Severity(severity),
            message,
            _jsonable(evidence or {}),
            fix if fix is not None else CODES[code].fix,
        )

    def forward(self, model: nn.Module, x: Any) -> Tensor:
        if work_clock() > self.deadline or time.perf_counter() > self.wall_deadline:
            raise BudgetExceeded("the time budget ran out")
        out = user_call("model", call_model, model, x)  # model(x), model(*x) or model(**x)
        if not isinstance(out, Tensor):
            raise UserCodeError(
                "model",
                TypeError(f"forward returned {type(out).__name__}, expected a tensor of outputs"),
            )
        return out

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        value = user_call("loss", self.loss_fn, out, y)
        if not isinstance(value, Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise UserCodeError(
                "loss",
                ValueError(
                    f"the loss returned {shape}, expected a scalar tensor (use reduction='mean')"
                ),
            )
        return value.reshape(())

    def optimizer(
        self, model: nn.Module, *, lr: float | None = None, weight_decay: float | None = None
    ) -> tuple[torch.optim.Optimizer, dict[str, Any]]:
        """The user's optimizer over `model`'s trainable parameters.

        A factory that closes over the user's original model (``lambda p: Adam(model.parameters())``)
        gets its parameters swapped for the copy's, so the original is never stepped. Returns the
        optimizer and what it covers: ``missing`` trainable parameter names it does not hold,
        ``foreign`` the count of tensors that belong to neither model.
        """

        params = [p for p in model.parameters() if p.requires_grad]
        factory = adamw() if self.factory_failed else self.factory
        opt = user_call("optimizer", factory, params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise UserCodeError(
                "optimizer",
                TypeError(
                    f"the optimizer factory returned {type(opt).__name__}, expected a torch.optim.Optimizer"
                ),
            )
        by_id = {id(p): p for p in model.parameters()}
        copy_params = dict(model.named_parameters())
        orig_names = {id(p): n for n, p in self.original.named_parameters()}
        foreign = 0
        for g in opt.param_groups:
            swapped = []
            for p in g["params"]:
                if id(p) in by_id:
                    swapped.append(p)
                elif id(p) in orig_names and orig_names[id(p)] in copy_params:
                    swapped.append(copy_params[orig_names[id(p)]])
                else:
                    foreign += 1  # never stepped: it gets no gradient from our copy
                    swapped.append(p)
            g["params"] = swapped
        held = {id(p) for g in opt.param_groups for p in g["params"]}
        missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in held]
        base = max((g.get("lr", 0.0) for g in opt.param_groups), default=0.0)
        for g in opt.param_groups:
            g["base_lr"] = g.get("lr", base)
            if lr is not None and base > 0:
                g["lr"] = g["base_lr"] * lr / base  # keep the ratios between groups
            elif lr is not None:
                g["lr"] = lr
            if weight_decay is not None and "weight_decay" in g:
                g["weight_decay"] = weight_decay
        return opt, {"missing": missing, "foreign": foreign}

    def prior_output(self, out: Tensor) -> Tensor | None:
        """The output a well-initialised model gives: log(prior) logits, or the target mean."""
        return self.task.prior_output(out, self.y)

    def loss_floor(self, out: Tensor, y: Tensor) -> float:
        """The lowest loss a perfect model reaches on (out-shaped) outputs for targets `y`:
        0 for cross-entropy and MSE, more with label smoothing (scanned over logit margins)."""
        candidates = self.task.floor_candidates(out, y)
        if not candidates:
            return 0.0
        values = []
        for c in candidates:
            try:
                values.append(float(self.loss(c.to(out.device), y)))
            except UserCodeError:
                continue
        finite = [v for v in values if v == v and abs(v) != float("inf")]
        return min(finite) if finite else 0.0


def set_lr(opt: torch.optim.Optimizer, lr: float, reference: float) -> None:
    """Scale every group's learning rate to `lr`, keeping the ratios between groups."""
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * lr / reference if reference > 0 else lr


def regularisation_off(model: nn.Module) -> nn.Module:
    """Dropout modules to eval mode (BatchNorm keeps using batch statistics)."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()
    return model


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else str(obj)
    if isinstance(obj, int | str | bool) or obj is None:
        return obj
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)
