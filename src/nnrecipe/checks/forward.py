"""Checks on one forward pass at init: `shape-mismatch`, `loss-at-init`,
`output-is-probability`, `batch-dependency`."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context, UserCodeError
from nnrecipe.data.batch import batch_len, batch_take
from nnrecipe.findings import Finding

# shape-mismatch: changing the targets of the second half of a batch must leave the loss
# gradient of the first half unchanged. Measured on the 11 healthy zoo setups and 33 bug cases
# with per-sample losses (cross-entropy, NLL, BCE-with-logits, MSE, L1, label smoothing):
# exactly 0.0; the (N,1)-vs-(N,) broadcasts in the zoo: 1.15 and 2.5.
COUPLING_TOL = 1e-4
# loss-at-init: the warning and error limits are the task's (`Task.init_loss_limits`, with
# their measurements next to them in tasks/).
# Below half the prior loss before any training is impossible for an honest loss (measured
# minimum over the 85 classification + 16 regression models above: 0.82x, a 2-class kaiming MLP
# at 0.547 vs 0.670; planted softmax into NLLLoss: negative).
LOW_RATIO = 0.5
# batch-dependency: relative difference of a sample's eval-mode output between batches.
# Measured float noise (batch of 64 vs permuted / 16 / 1 sample, all 49 zoo models): <= 6.6e-7;
# planted bugs 0.015 (gradient leak of x - x.mean(0)) to 3.5.
BATCH_TOL = 1e-4


def shape_mismatch(ctx: Context) -> list[Finding]:
    """Batch size, class count and broadcasting between output and target."""
    init = probes.init(ctx)
    out, y = init["out"], init["y"]
    ev = {
        "output_shape": list(out.shape),
        "target_shape": list(y.shape),
        "output_dtype": str(out.dtype),
        "target_dtype": str(y.dtype),
    }
    if out.ndim == 0 or out.shape[0] != y.shape[0]:
        return [
            ctx.finding(
                "shape-mismatch",
                "error",
                f"A batch of {y.shape[0]} inputs gives outputs of shape {tuple(out.shape)}: the first "
                "dimension must be the batch.",
                ev,
                "Keep the batch dimension: flatten with x.flatten(1), never x.view(-1).",
            )
        ]
    found = []
    mismatch = ctx.task.output_mismatch(out, y)
    if mismatch is not None:
        c, k = mismatch
        sev = "error" if c < k else "warning"
        what = "cannot predict classes" if c < k else "has outputs for classes that never occur"
        found.append(
            ctx.finding(
                "shape-mismatch",
                sev,
                f"The model has {c} outputs but the labels define {k} classes (0..{k - 1}): it "
                f"{what}.",
                {**ev, "outputs": c, "classes": k},
                f"Give the last layer {k} outputs (e.g. nn.Linear(..., {k})).",
            )
        )
    coupling = _loss_coupling(ctx, out, y)
    if coupling is not None and coupling > COUPLING_TOL:
        try:
            bshape = list(torch.broadcast_shapes(out.shape, y.shape))
        except RuntimeError:
            bshape = None
        bc = f" (they broadcast to {tuple(bshape)})" if bshape and bshape != list(out.shape) else ""
        found.append(
            ctx.finding(
                "shape-mismatch",
                "error",
                f"The loss mixes samples: outputs {tuple(out.shape)} vs targets {tuple(y.shape)}{bc}; "
                f"changing other samples' targets moves a sample's gradient by {coupling:.2g} "
                "(relative), so every output is compared with every target.",
                {**ev, "coupling": coupling, "broadcast_shape": bshape},
                "Make the output and target shapes equal before the loss: out.squeeze(-1) for (N,) "
                "targets or y.unsqueeze(-1) for (N, 1) outputs.",
            )
        )
    return found


def _loss_coupling(ctx: Context, out: Tensor, y: Tensor) -> float | None:
    """How much the loss gradient of the first half of a batch moves when the targets of the
    second half change (0 for any per-sample loss)."""
    n = out.shape[0]
    if n < 4 or ctx.task.loss_pairs_samples:
        return None
    h = n // 2
    y2 = ctx.task.perturb_targets(y, h)
    grads = []
    for target in (y, y2):
        leaf = out.detach().clone().requires_grad_(True)
        try:
            loss = ctx.loss(leaf, target)
        except UserCodeError:
            return None
        if not loss.requires_grad:
            return None
        (g,) = torch.autograd.grad(loss, leaf)
        grads.append(g[:h])
    scale = float(grads[0].abs().max())
    if not math.isfinite(scale) or scale == 0:
        return None
    return float((grads[0] - grads[1]).abs().max()) / scale


def loss_at_init(ctx: Context) -> list[Finding]:
    """The loss over four batches at init vs the user's own loss on prior/mean predictions."""
    init = probes.init(ctx)
    loss = sum(init["losses"]) / len(init["losses"])
    ideal = ctx.prior_output(init["out"])
    try:
        ref = float(ctx.loss(ideal, init["y"])) if ideal is not None else math.nan
    except UserCodeError:
        ref = math.nan
    if not math.isfinite(ref):
        ref = ctx.task.expected_init_loss(ctx.y)
    hi = ref
    uniform = ctx.task.uniform_output(init["out"])
    if uniform is not None:
        try:  # e.g. uniform logits: what a model with a zero last bias gives; also healthy
            hi = max(ref, float(ctx.loss(uniform, init["y"])))
        except UserCodeError:
            hi = ref
    ctx.stats["loss_at_init"] = {"loss": loss, "prior_loss": ref, "uniform_loss": hi}
    ev = {"loss": loss, "expected": ref, "healthy_upper": hi, "batches": len(init["losses"])}
    if not math.isfinite(loss) or not math.isfinite(ref) or ref <= 0:
        return []  # non-finite losses are reported by non-finite
    limit, severe_limit = ctx.task.init_loss_limits(ref, hi)
    if loss > limit:
        sev = "error" if loss > severe_limit else "warning"
        kind = ctx.task.prior_name
        return [
            ctx.finding(
                "loss-at-init",
                sev,
                f"The loss at init is {loss:.4g}, but a model predicting {kind} has {ref:.4g}: the "
                "initial outputs are too large or off-centre.",
                ev,
            )
        ]
    if loss < LOW_RATIO * ref:
        return [
            ctx.finding(
                "loss-at-init",
                "warning",
                f"The loss at init is {loss:.4g}, below half the {ref:.4g} of predicting the "
                "prior/mean before any training: the loss is mis-computed (scaled, wrong reduction) "
                "or the labels leak into the inputs.",
                ev,
                "Check the loss's reduction and scaling, and that no input feature encodes the label.",
            )
        ]
    return []


def output_is_probability(ctx: Context) -> list[Finding]:
    """Outputs that are probabilities (softmax rows, or sigmoid values that stay in [0, 1]
    even after training) given to a loss that expects logits or log-probabilities."""
    if not ctx.task.applies("output-is-probability"):
        return []
    init = probes.init(ctx)
    out, y = init["out"].float(), init["y"]
    softmax = _is_softmax(out)
    if not (softmax or _in_unit_interval(out)):
        return []
    expects = _loss_expects(ctx, out, y)
    if expects in (None, "probabilities"):
        return []
    if not softmax:  # sigmoid-like: confirm that training cannot push outputs past 1
        try:
            trained = probes.overfit(ctx)["out"].float()
        except UserCodeError:
            return []
        if not _in_unit_interval(trained):
            return []
    kind = "softmax probabilities (rows sum to 1)" if softmax else "values in [0, 1] (sigmoid)"
    return [
        ctx.finding(
            "output-is-probability",
            "error",
            f"The model outputs {kind}, but the loss expects {expects}: the model applies "
            "softmax/sigmoid twice in effect and cannot become confident.",
            {
                "output_min": float(out.min()),
                "output_max": float(out.max()),
                "softmax_rows": softmax,
                "loss_expects": expects,
            },
        )
    ]


def _is_softmax(out: Tensor) -> bool:
    # Class scores along dim 1: (N, C), or dense (N, C, H, W) / (N, C, L) per-position scores.
    return (
        out.ndim >= 2
        and out.shape[1] >= 2
        and _in_unit_interval(out)
        and bool(((out.sum(1) - 1).abs() < 1e-3).all())
    )


def _in_unit_interval(out: Tensor) -> bool:
    return (
        bool(torch.isfinite(out).all())
        and float(out.min()) >= -1e-6
        and float(out.max()) <= 1 + 1e-6
    )


def _loss_expects(ctx: Context, out: Tensor, y: Tensor) -> str | None:
    """What the loss wants, found by feeding it a perfect answer in two encodings: one-hot
    probabilities and confident logits (+/-10)."""
    dense = out.ndim > 2 and tuple(y.shape) == (out.shape[0], *out.shape[2:])
    if out.ndim >= 2 and out.shape[1] >= 2 and (out.ndim == 2 or dense):
        # Class indices (N,) for scores (N, C), or (N, ...) for dense (N, C, ...): one-hot on dim 1.
        c = out.shape[1]
        yl = y.reshape(-1) if out.ndim == 2 else y
        onehot = F.one_hot(yl.long().clamp(0, c - 1), c).movedim(-1, 1).float()
    elif y.numel() == out.numel():
        onehot = y.long().float().reshape(out.shape)
    else:
        return None
    logits = 20 * onehot - 10
    target = y

    def value(o: Tensor) -> float | None:
        try:
            v = float(ctx.loss(o.to(out.device), target))
        except UserCodeError:
            return None
        return v if math.isfinite(v) else None

    as_probs, as_logits = value(onehot), value(logits)
    if as_probs is not None and as_probs < -0.5:
        return "log-probabilities"  # NLL: -p[y] = -1 for a one-hot
    if as_logits is not None and as_probs is not None and 0 <= as_logits < 0.01 and as_probs > 0.1:
        return "logits"
    if as_probs is not None and abs(as_probs) < 1e-3:
        return "probabilities"
    return None


def batch_dependency(ctx: Context) -> list[Finding]:
    """Eval mode: outputs for a batch vs the same batch permuted, vs sub-batches, and the
    gradient of one sample's output w.r.t. the other samples' inputs."""
    m = ctx.fresh().eval()
    xb, _ = ctx.batch(0)
    n = batch_len(xb)
    if n < 4:
        return []
    ev: dict[str, Any] = {"batch": n}
    problems = []
    with torch.no_grad():
        full = ctx.forward(m, xb).float()
        if full.ndim == 0 or full.shape[0] != n:
            return []  # shape-mismatch reports it
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed))
        try:
            permuted = ctx.forward(m, batch_take(xb, perm)).float()[torch.argsort(perm)]
            ev["permuted"] = _rel(full, permuted)
            if ev["permuted"] > BATCH_TOL:
                problems.append(f"permuting the batch changes outputs by {ev['permuted']:.2g}")
            for k in (n // 4, 1):
                sub = ctx.forward(m, batch_take(xb, slice(0, k))).float()
                ev[f"sub_batch_{k}"] = d = _rel(full[:k], sub)
                if d > BATCH_TOL:
                    problems.append(f"a batch of {k} gives outputs differing by {d:.2g}")
                    break
        except UserCodeError as e:
            problems.append(f"the model fails on a smaller batch ({e.quote()})")
    if not problems:
        leak = _gradient_leak(ctx, m, xb)
        ev["gradient_leak"] = leak
        if leak is not None and leak > BATCH_TOL:
            problems.append(
                f"one sample's output has a gradient {leak:.2g} (relative) w.r.t. other samples' inputs"
            )
    if not problems:
        return []
    return [
        ctx.finding(
            "batch-dependency",
            "error",
            "In eval mode, a sample's output depends on the rest of the batch: "
            + "; ".join(problems)
            + ".",
            ev,
        )
    ]


def _rel(a: Tensor, b: Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return float((a - b).abs().max()) / (float(a.abs().max()) + 1e-6)


def _gradient_leak(ctx: Context, m: Any, xb: Tensor) -> float | None:
    if not isinstance(xb, Tensor) or not torch.is_floating_point(xb):
        return None  # ids and categorical codes have no gradient
    x = xb.detach().clone().requires_grad_(True)
    out = ctx.forward(m, x)
    if not out.requires_grad:
        return None
    (g,) = torch.autograd.grad(out[0].float().sum(), x, allow_unused=True)
    if g is None:
        return None
    own = float(g[0].abs().max())
    others = float(g[1:].abs().max())
    if own == 0:
        return None if others == 0 else math.inf
    return others / own
