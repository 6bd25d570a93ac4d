"""Checks on how the model behaves across modes and what it owns: `random-eval-outputs`,
`train-eval-mismatch`, `unregistered-params`."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context, UserCodeError, regularisation_off
from nnrecipe.data.batch import batch_len, batch_take, batch_to
from nnrecipe.findings import Finding

# random-eval-outputs: relative max difference between two eval-mode passes on one batch.
# Measured: exactly 0.0 on all 18 healthy setups of both zoos (repeated CPU kernels are
# deterministic); F.dropout(x, 0.5) left on at eval: 0.63-1.40 (8 setups). 1e-4 is the
# float-noise limit batch-dependency uses too. Error: predictions that change from one call to
# the next cost 5-68 accuracy points in the mutation zoo.
RANDOM_TOL = 1e-4
# train-eval-mismatch: after the input-ignored probe's short training, the held-out loss in eval
# mode minus the loss in train mode (dropout off, batch statistics), relative to the loss of
# predicting the prior/mean. Measured: 18 healthy setups of both zoos -0.031..0.058; BatchNorm
# with momentum 0 (running statistics stuck at mean 0, variance 1): 0.39-68 (6 setups, plain
# training loses 27-92 points of accuracy or R^2). Warning above 0.2 (a fifth of what the
# model learned is lost at eval), error above 0.5 (half of it).
MODE_WARNING = 0.2
MODE_ERROR = 0.5
# unregistered-params: unregistered leaf tensors holding at least 1% of the values used as
# weights are an error (a layer that never trains), fewer a warning (as params-not-updated).
UNREGISTERED_ERROR_FRACTION = 0.01


def random_eval_outputs(ctx: Context) -> list[Finding]:
    """Two eval-mode passes over the same batch must give the same outputs."""
    m = ctx.fresh().eval()
    xb, _ = ctx.batch(0)
    with torch.no_grad():
        a = ctx.forward(m, xb).float()
        b = ctx.forward(m, xb).float()
    if a.shape != b.shape or not bool(torch.isfinite(a).all() & torch.isfinite(b).all()):
        return []
    diff = float((a - b).abs().max()) / (float(a.abs().max()) + 1e-6)
    ctx.cache["eval_randomness"] = diff
    ctx.stats["eval_randomness"] = diff
    if diff <= RANDOM_TOL:
        return []
    return [
        ctx.finding(
            "random-eval-outputs",
            "error",
            f"In eval mode, two passes over the same batch of {len(a)} give outputs differing by "
            f"{diff:.2g} (relative): something random (functional dropout, noise) stays on "
            "after model.eval().",
            {"relative_difference": diff, "batch": len(a)},
        )
    ]


def train_eval_mismatch(ctx: Context) -> list[Finding]:
    """The briefly trained copy of the input-ignored probe: held-out loss in eval mode vs in
    train mode with dropout off (BatchNorm on batch statistics)."""
    if ctx.cache.get("eval_randomness", 0.0) > RANDOM_TOL:
        return []  # random-eval-outputs owns it: eval outputs are noise already
    trained = probes.inputs(ctx)["trained"]
    if trained is None:
        return []
    n = min(probes.BATCH * 4, batch_len(ctx.xv))
    xv = batch_to(batch_take(ctx.xv, slice(0, n)), ctx.device)
    yv = ctx.yv[:n].to(ctx.device)
    if n < 8:
        return []
    train_mode = regularisation_off(copy.deepcopy(trained).train())
    eval_mode = copy.deepcopy(trained).eval()
    with torch.no_grad():
        out_eval = ctx.forward(eval_mode, xv)
        out_train = ctx.forward(train_mode, xv)
        loss_eval = float(ctx.loss(out_eval, yv))
        loss_train = float(ctx.loss(out_train, yv))
        ideal = ctx.prior_output(out_eval)
        try:
            ref = float(ctx.loss(ideal, yv)) if ideal is not None else math.nan
        except UserCodeError:
            ref = math.nan
    if not math.isfinite(ref) or ref <= 0:
        ref = ctx.task.expected_init_loss(ctx.y)
    ev: dict[str, Any] = {
        "heldout_loss_eval_mode": loss_eval,
        "heldout_loss_train_mode": loss_train,
        "prior_loss": ref,
        "samples": n,
    }
    if not (math.isfinite(loss_eval) and math.isfinite(loss_train) and ref > 0):
        return []
    excess = (loss_eval - loss_train) / ref
    ev["excess"] = excess
    ctx.stats["train_eval"] = ev
    if excess <= MODE_WARNING:
        return []
    bn = [
        n
        for n, mod in trained.named_modules()
        if isinstance(mod, nn.modules.batchnorm._BatchNorm)
        and (mod.momentum == 0 or not mod.track_running_stats)
    ]
    ev["suspect_layers"] = bn[:10]
    hint = (
        f" (BatchNorm layers whose running statistics never update: {', '.join(bn[:3])})"
        if bn
        else ""
    )
    return [
        ctx.finding(
            "train-eval-mismatch",
            "error" if excess > MODE_ERROR else "warning",
            f"After a short training, the held-out loss is {loss_eval:.4g} in eval mode but "
            f"{loss_train:.4g} in train mode (predicting the prior gives {ref:.4g}): the model "
            f"behaves differently after model.eval(){hint}.",
            ev,
        )
    ]


class _LeafWatcher(TorchFunctionMode):
    """Records every leaf tensor that requires a gradient and reaches a torch function."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, Tensor] = {}
        # Tensors made during forward (e.g. an initial hidden state created with
        # requires_grad=True) belong to that call, not to the model: never reported.
        self.created: set[int] = set()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        stack = list(args) + list(kwargs.values())
        while stack:
            a = stack.pop()
            if isinstance(a, Tensor):
                if a.requires_grad and a.is_leaf and id(a) not in self.created:
                    self.seen[id(a)] = a
            elif isinstance(a, list | tuple):
                stack.extend(a)
        out = func(*args, **kwargs)
        for o in out if isinstance(out, list | tuple) else (out,):
            if isinstance(o, Tensor):
                self.created.add(id(o))
        return out


def unregistered_params(ctx: Context) -> list[Finding]:
    """Leaf tensors requiring a gradient used in one forward pass but absent from
    ``model.parameters()``: never trained, never saved, never moved to the device."""
    m = ctx.fresh()
    xb, _ = ctx.batch(0)  # the batch size of every forward check (a model may hard-code it)
    watcher = _LeafWatcher()
    with watcher:
        ctx.forward(m, xb)
    own = {id(p) for p in m.parameters()} | {id(b) for b in m.buffers()}
    foreign = [t for k, t in watcher.seen.items() if k not in own]
    if not foreign:
        return []
    values = sum(t.numel() for t in foreign)
    used = values + sum(p.numel() for p in m.parameters() if p.requires_grad)
    share = values / max(used, 1)
    shapes = [list(t.shape) for t in foreign[:5]]
    return [
        ctx.finding(
            "unregistered-params",
            "error" if share >= UNREGISTERED_ERROR_FRACTION else "warning",
            f"{len(foreign)} tensors requiring a gradient ({values:,} values, {share:.0%} of the "
            f"weights used) take part in forward but are not in model.parameters(), e.g. shapes "
            f"{shapes[:3]}: the optimizer never trains them (layers kept in a plain list or dict?).",
            {"tensors": len(foreign), "values": values, "share": share, "shapes": shapes},
        )
    ]
