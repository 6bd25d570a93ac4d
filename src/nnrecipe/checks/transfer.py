"""Checks that know about transfer learning: `body-lr-too-high`, `pretrained-input-scale`,
`head-size`; the `lr-auto` note (its code is in train/codes.py: it is a record of the training
settings, not a bug); and the range test behind ``lr="auto"``.

A model counts as pretrained when it carries ``nnrecipe_pretrained`` (set by
`nnrecipe.models.pretrained`, ``--pretrained runs/NAME`` and `new_head`). Parameters frozen on
purpose (``requires_grad=False``, as `Learner.freeze` leaves them) are never
`params-not-updated`: that check only looks at trainable parameters.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context, UserCodeError
from nnrecipe.findings import Finding

# body-lr-too-high: the largest learning rate of a group holding body parameters, against the
# rate at the loss minimum of a range test that trains the head alone (body frozen). fine_tune's
# unfrozen phase gives the body at most half the head's rate (fastai's rule); a body rate above
# the head's loss minimum moves pretrained weights faster than the head itself can usefully
# learn: catastrophic forgetting. Warning above 1x the head's lr_min, error above 10x.
BODY_LR_WARNING = 1.0
BODY_LR_ERROR = 10.0
# pretrained-input-scale: per-channel mean and std of what the body receives, against the
# standardised inputs its weights were trained on (ImageNet's mean/std normalisation, or
# nnrecipe's per-channel standardisation of the source run). Measured on digits: standardised
# |mean| <= 0.01, std 0.98-1.0 per channel; raw 0..1 pixels mean 0.30 std 0.42; raw 0..16
# mean 4.9 std 6.0. Flagged when a channel's |mean| > 0.5 or its std is outside [0.5, 2].
MEAN_LIMIT = 0.5
STD_RANGE = (0.5, 2.0)


# -- the range test, for lr="auto" --------------------------------------------------------------
def range_test(
    model: nn.Module,
    data: Any,
    *,
    optimizer: Any = None,
    loss: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The learning-rate range test `nr.check` runs (same samples, same steps, on a copy of the
    model), with the `auto_lr` choice added under ``"auto"``."""
    import copy

    from nnrecipe.checks.run import _context

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ctx = _context(
            model, copy.deepcopy(model), data, task=None, loss=loss, optimizer=optimizer, seed=seed
        )
        r = dict(probes.lr_range(ctx))
    r["auto"] = auto_lr(r)
    return r


def auto_lr(r: dict[str, Any]) -> dict[str, Any]:
    """The rule behind ``lr="auto"``: a tenth of the rate at the smoothed loss minimum
    (Smith 2017, fastai's ``lr_min / 10``), moved up to the steepest descent of the smoothed
    loss when that tenth falls on the flat part before the loss starts to fall.

    Returns ``{"lr", "rule", "why", "falling": [lo, hi]}``; ``lr`` is None when the range test
    shows no clear descent (the caller keeps its own rate)."""
    if not r.get("ok"):
        return {
            "lr": None,
            "rule": "none",
            "why": "the range test's loss did not fall clearly below its start",
            "falling": None,
        }
    lrs, smooth = r["lrs"], r["smooth"]
    i_min = lrs.index(r["lr_min"])
    start, low = r["loss_start"], r["loss_min"]
    # The falling region: from where the smoothed loss has dropped 5% of the way to its minimum
    # up to the minimum itself.
    i_fall = next(
        i
        for i in range(i_min + 1)
        if math.isfinite(smooth[i]) and smooth[i] <= start - 0.05 * (start - low)
    )
    falling = [lrs[i_fall], lrs[i_min]]
    lr = r["lr_min"] / 10
    rule, why = "min/10", f"a tenth of {r['lr_min']:.2g}, where the range test's loss is lowest"
    if lr < falling[0]:
        slopes = [
            (smooth[i + 1] - smooth[i - 1], i)
            for i in range(max(i_fall, 1), i_min)
            if math.isfinite(smooth[i + 1]) and math.isfinite(smooth[i - 1])
        ]
        if slopes:
            lr = lrs[min(slopes)[1]]
        else:
            lr = falling[0]
        rule = "steepest"
        why = (
            f"the steepest descent of the range test's loss (a tenth of its minimum at "
            f"{r['lr_min']:.2g} lies before the loss starts to fall)"
        )
    return {"lr": lr, "rule": rule, "why": why, "falling": falling}


# -- checks ---------------------------------------------------------------------------------------
def _is_pretrained(ctx: Context) -> bool:
    return bool(getattr(ctx.model, "nnrecipe_pretrained", None))


def lr_auto(ctx: Context) -> list[Finding]:
    """Info: the learning rate was chosen by ``lr="auto"`` (the factory says so)."""
    info = getattr(ctx.factory, "auto", None)
    if not isinstance(info, dict) or info.get("lr") is None:
        return []
    rng = ctx.stats.setdefault("lr_range", {})
    rng["auto"] = info["lr"]
    return [
        ctx.finding(
            "lr-auto",
            "info",
            f"The learning rate {info['lr']:.2g} was chosen by --lr auto: {info['why']}.",
            info,
            "Nothing to fix; pass a number to --lr to override the choice.",
        )
    ]


def head_size(ctx: Context) -> list[Finding]:
    """A pretrained model whose head's output count is not the task's."""
    if not _is_pretrained(ctx):
        return []
    out = probes.init(ctx)["out"]
    want = ctx.task.output_size()
    got = int(out[0].numel()) if out.ndim > 1 else 1
    if got == want:
        return []
    return [
        ctx.finding(
            "head-size",
            "error",
            f"The pretrained model's head has {got} outputs but the task needs {want}: the head "
            "of the source task was kept.",
            {"outputs": got, "expected": want},
            f"Replace the head: nr.models.pretrained(name, num_classes={want}) or "
            f"nr.models.new_head(model, {want}).",
        )
    ]


def pretrained_input_scale(ctx: Context) -> list[Finding]:
    """Per-channel mean/std of the inputs the pretrained body receives (after the model's own
    input adaptation), against standardised inputs."""
    if not _is_pretrained(ctx):
        return []
    x = ctx.x[:256].float()
    adapt = getattr(ctx.model, "adapt", None)
    with torch.no_grad():
        if isinstance(adapt, nn.Module):
            x = adapt(x.to(ctx.device)).cpu()
    dims = (0, *range(2, x.ndim)) if x.ndim > 2 else (0,)
    mean, std = x.mean(dim=dims), x.std(dim=dims)
    ev = {"channel_mean": mean.tolist()[:16], "channel_std": std.tolist()[:16]}
    ctx.stats["pretrained_input"] = ev
    bad_mean = bool((mean.abs() > MEAN_LIMIT).any())
    bad_std = bool(((std < STD_RANGE[0]) | (std > STD_RANGE[1])).any())
    if not (bad_mean or bad_std):
        return []
    pre = getattr(ctx.model, "nnrecipe_preprocess", None) or {}
    norm = ""
    if pre.get("mean") and pre.get("std"):
        norm = f" (the weights' mean {pre['mean']}, std {pre['std']} for inputs in [0, 1])"
    return [
        ctx.finding(
            "pretrained-input-scale",
            "warning",
            f"The pretrained body receives inputs with channel means up to {float(mean.abs().max()):.3g} "
            f"and stds {float(std.min()):.3g}-{float(std.max()):.3g}, not the standardised inputs its "
            f"weights were trained on{norm}.",
            {**ev, "preprocess": pre},
        )
    ]


def body_lr_too_high(ctx: Context) -> list[Finding]:
    """The largest learning rate on the body's parameters vs the head-only range test's
    loss minimum."""
    groups = getattr(ctx.model, "nnrecipe_groups", None)
    if not _is_pretrained(ctx) or not groups or len(groups) < 2:
        return []
    head = set(groups[-1])
    names = {id(p): n for n, p in ctx.model.named_parameters()}
    try:
        opt, _ = ctx.optimizer(ctx.model)
    except UserCodeError:
        return []
    body_lr = max(
        (
            float(g["lr"])
            for g in opt.param_groups
            for p in g["params"]
            if names.get(id(p)) not in head
        ),
        default=0.0,
    )
    head_r = _head_range(ctx, head)
    if not head_r.get("ok") or body_lr <= 0:
        return []
    ratio = body_lr / head_r["lr_min"]
    ev = {"body_lr": body_lr, "head_lr_min": head_r["lr_min"], "ratio": ratio}
    ctx.stats["head_lr_range"] = {k: head_r[k] for k in ("lr_min", "suggested", "loss_min")}
    if ratio <= BODY_LR_WARNING:
        return []
    return [
        ctx.finding(
            "body-lr-too-high",
            "error" if ratio > BODY_LR_ERROR else "warning",
            f"The pretrained body trains at a learning rate of {body_lr:.2g}, {ratio:.1f}x the rate "
            f"where the new head alone learns best ({head_r['lr_min']:.2g}): the body's weights "
            "will be overwritten (catastrophic forgetting).",
            ev,
        )
    ]


def _head_range(ctx: Context, head: set[str]) -> dict[str, Any]:
    """The range test with only the head trainable (cached)."""
    if "head_range" in ctx.cache:
        return ctx.cache["head_range"]
    saved = ctx.model
    frozen = ctx.fresh()
    for n, p in frozen.named_parameters():
        p.requires_grad_(n in head)
    ctx.model, cached = frozen, ctx.cache.pop("lr_range", None)
    try:
        r = probes.lr_range(ctx)
    finally:
        ctx.model = saved
        ctx.cache.pop("lr_range", None)
        if cached is not None:
            ctx.cache["lr_range"] = cached
    ctx.cache["head_range"] = r
    return r


TRANSFER_CHECKS = [head_size, pretrained_input_scale, body_lr_too_high, lr_auto]
