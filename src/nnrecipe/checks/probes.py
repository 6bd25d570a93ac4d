"""Probes: short, cached experiments on copies of the model that several checks read.

``init``: one forward/backward at initialisation. ``steps``: a few steps of the user's optimizer.
``lr_range``: the learning-rate range test. ``overfit``: one small batch trained to memorisation.
``inputs``: the model trained on real vs zeroed inputs. Each runs once per `check`; a crash in
the user's code propagates as `UserCodeError`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.checks.context import (
    BATCH,
    BudgetExceeded,
    Context,
    UserCodeError,
    embedding_rows,
    regularisation_off,
    set_lr,
    user_call,
    work_clock,
)
from nnrecipe.checks.hooks import OutputGrads, relu_activity
from nnrecipe.data.batch import batch_len, batch_take, batch_to

STEPS = 5  # optimizer steps for params-not-updated and the gradient profile
LR_STEPS_PER_DECADE = 12
# When the full plan of probes does not fit the time budget they shrink by `ctx.scale`, down
# to these floors (below them the probe is skipped and named). Measured on a folder of the
# 1,797 digits as RGB 32x32 images with the built-in cnn2d (0.16-0.19 s of work per step of 64,
# a plan of 350 steps = 55-67 s, scale 0.37-0.45): the checks used 26-29 s of work (budget
# 30 s; the 20-epoch train stage: 92 s of CPU); the overfit batch reached 0.109 in 118 steps
# (target 0.115) in one run, 0.158 in 110 in another (inconclusive: info, not an error);
# input-ignored with 50 steps: t 15 (healthy: above 3).
MIN_LR_STEPS_PER_DECADE = 5
MIN_OVERFIT_STEPS = 100
MIN_INPUT_STEPS = 50
MIN_SCALE = 0.3
OVERFIT_SAMPLES = 32
OVERFIT_STEPS = 300
INPUT_STEPS = 100
INPUT_BATCH = 32  # 100 updates on 3,200 samples: enough to learn the easy part of the signal
INPUT_EVALS = 2  # held-out evaluations along the input-ignored training (best one counts)
# With id inputs the probe's batches grow so that each row of the largest embedding table is
# looked up ROW_VISITS times over the probe. Measured on 20,000 MovieLens ratings (1,682 items,
# 100 steps, `collab`), paired t / relative gain: healthy, 16 visits (batches of 269) t 2.84 /
# 0.17 (a false alarm), 32 visits t 3.11 / 0.26, 64 visits t 3.00 / 0.36 (passes on its gain);
# ratings shuffled (3 seeds), 64 visits: t 0.33-1.74 / gain <= 0.053, all still flagged.
ROW_VISITS = 64
# ... and the range test's batches too: with batches of 64 on the full MovieLens (1,682 items)
# its loss was batch noise (1.0-1.5 up to lr 0.1), its "minimum" at 1.2e-3 a chance low and the
# suggested 1.2e-4 starved the probes (input-ignored gain 0.006, cannot-overfit-batch: both
# false alarms on `collab`). With 64 lookups per row (batches of 1,077): suggested 1e-2, gains
# 0.29 (`collab`) and 0.27 (`collab-blend`), quiet; 16 lookups: 8e-3 and collab still flagged.
RANGE_ROW_VISITS = 64


def range_batch(ctx: Context) -> int:
    """The range test's batch size: BATCH, larger for id inputs (see RANGE_ROW_VISITS)."""
    rows = embedding_rows(ctx.model)
    return min(max(BATCH, math.ceil(RANGE_ROW_VISITS * rows / 100)), batch_len(ctx.x))


def input_batch(ctx: Context, n_steps: int) -> int:
    """The input-ignored probe's batch size."""
    rows = embedding_rows(ctx.model)
    return min(max(INPUT_BATCH, math.ceil(ROW_VISITS * rows / n_steps)), batch_len(ctx.x))


def cached(ctx: Context, key: str, fn: Any) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = fn(ctx)
    return ctx.cache[key]


# -- init ------------------------------------------------------------------------------------
def init(ctx: Context) -> dict[str, Any]:
    return cached(ctx, "init", _init)


def _init(ctx: Context) -> dict[str, Any]:
    m = ctx.fresh()
    xb, yb = ctx.batch(0)
    out = ctx.forward(m, xb)
    loss = ctx.loss(out, yb)
    if loss.requires_grad:
        user_call("loss", loss.backward)
    grads = {
        n: (p.grad.detach().clone() if p.grad is not None else None)
        for n, p in m.named_parameters()
        if p.requires_grad
    }
    # Loss at init over a few batches, train mode as the first training step sees it.
    m2 = ctx.fresh()
    t0, w0 = work_clock(), time.perf_counter()
    with torch.no_grad():
        losses = [
            float(ctx.loss(ctx.forward(m2, xi), yi)) for xi, yi in (ctx.batch(i) for i in range(4))
        ]
    # A training step costs about 3 forward passes (forward, backward, optimizer step); the
    # time budget plans every later probe from this.
    ctx.step_seconds = 3 * (work_clock() - t0) / 4
    ctx.step_wall = 3 * (time.perf_counter() - w0) / 4
    m3 = ctx.fresh().eval()
    with torch.no_grad():
        out_eval = ctx.forward(m3, xb)
    return {
        "out": out.detach(),
        "y": yb,
        "x": xb,
        "loss": float(loss.detach()),
        "losses": losses,
        "grads": grads,
        "out_eval": out_eval.detach(),
    }


# -- a few steps of the user's optimizer -------------------------------------------------------
def trained_copy(ctx: Context, n_steps: int) -> nn.Module:
    """A fresh copy of the model after `n_steps` steps of the user's optimizer on the fixed
    training sample (batches of BATCH), in eval mode."""
    m = ctx.fresh()
    opt, _ = ctx.optimizer(m)
    for i in range(n_steps):
        xb, yb = ctx.batch(i)
        opt.zero_grad(set_to_none=True)
        loss = ctx.loss(ctx.forward(m, xb), yb)
        if loss.requires_grad:
            user_call("loss", loss.backward)
        user_call("optimizer", opt.step)
    return m.eval()


def steps(ctx: Context) -> dict[str, Any]:
    return cached(ctx, "steps", _steps)


def _steps(ctx: Context) -> dict[str, Any]:
    ctx.afford(STEPS, "the optimizer-steps probe")
    m = ctx.fresh()
    opt, cover = ctx.optimizer(m)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    params = dict(m.named_parameters())
    before = {n: params[n].detach().clone() for n in names}
    got_grad = dict.fromkeys(names, False)
    deltas: dict[int, list[float]] = {}  # call index -> |dL/d output| per step
    labels: dict[int, str] = {}
    rel_grad: list[float] = []
    for i in range(STEPS):
        xb, yb = ctx.batch(i)
        opt.zero_grad(set_to_none=True)
        with OutputGrads(m) as rec:
            loss = ctx.loss(ctx.forward(m, xb), yb)
            if loss.requires_grad:
                user_call("loss", loss.backward)
        for n in names:
            g = params[n].grad
            if g is not None and bool((g != 0).any()) and bool(torch.isfinite(g).all()):
                got_grad[n] = True
        gn = math.sqrt(
            sum(
                float(params[n].grad.float().pow(2).sum())
                for n in names
                if params[n].grad is not None
            )
        )
        wn = math.sqrt(sum(float(params[n].detach().float().pow(2).sum()) for n in names))
        rel_grad.append(gn / max(wn, 1e-12))
        for k, (label, norm) in enumerate(rec.norms()):
            deltas.setdefault(k, []).append(norm)
            labels[k] = label
        user_call("optimizer", opt.step)
    changed = {n: not torch.equal(before[n], params[n].detach()) for n in names}
    return {
        "names": names,
        "got_grad": got_grad,
        "changed": changed,
        "missing": cover["missing"],
        "foreign": cover["foreign"],
        "deltas": deltas,
        "labels": labels,
        "rel_grad": rel_grad,
        "numel": {n: params[n].numel() for n in names},
        "lr_groups": [g.get("lr", 0.0) for g in opt.param_groups],
    }


# -- learning-rate range test ------------------------------------------------------------------
def lr_range(ctx: Context) -> dict[str, Any]:
    return cached(ctx, "lr_range", _lr_range)


def _lr_range(ctx: Context) -> dict[str, Any]:
    """Smith's range test: lr grows exponentially each step; record the training loss.

    The lr at the minimum of the (centred, hence unlagged) smoothed loss is ``lr_min``; the
    suggestion is ``lr_min / 10`` (Smith 2017; fastai's lr_find). Divergence: smoothed loss above
    4x its minimum, or non-finite.
    """
    lo = min(1e-6, ctx.lr / 10) if ctx.lr > 0 else 1e-6
    hi = max(10.0, ctx.lr * 10)
    per_decade = lr_steps_per_decade(ctx)
    n = int(round(math.log10(hi / lo) * per_decade)) + 1
    lrs = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    ctx.afford(n * range_batch(ctx) / BATCH, "the learning-rate range test")
    m = ctx.fresh()
    opt, _ = ctx.optimizer(m)
    reference = max((g["base_lr"] for g in opt.param_groups), default=ctx.lr)
    losses: list[float] = []
    best = math.inf
    stopped = None  # index where the scan stopped on divergence
    size = range_batch(ctx)
    for i, lr in enumerate(lrs):
        set_lr(opt, lr, reference)
        xb, yb = ctx.batch(i, size)
        opt.zero_grad(set_to_none=True)
        loss = ctx.loss(ctx.forward(m, xb), yb)
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            stopped = i
            break
        best = min(best, value)
        if i > 10 and value > 8 * best:  # far past divergence: stop spending steps
            stopped = i
            break
        if loss.requires_grad:
            user_call("loss", loss.backward)
        user_call("optimizer", opt.step)
    smooth = _centred_mean(losses, 5)
    finite = [(s, i) for i, s in enumerate(smooth) if math.isfinite(s)]
    if len(finite) < 10:
        return {"ok": False, "lrs": lrs[: len(losses)], "losses": losses, "smooth": smooth}
    s_min, i_min = min(finite)
    first = finite[0][0]
    div = next(
        (i for i, s in enumerate(smooth) if i > i_min and (not math.isfinite(s) or s > 4 * s_min)),
        None,
    )
    if div is None and stopped is not None:
        # One step jumped above 8x the best loss: divergence, even if the centred mean of the
        # last few steps has not caught up (an Adam BN-MLP at lr 1e-7 read as 'still falling
        # at the top of the scan' before this, and lr-too-low stayed at info).
        div = stopped
    # The loss must have fallen clearly below its starting value for the minimum to mean much.
    decreased = s_min < 0.9 * first
    return {
        "ok": decreased,
        "lrs": lrs[: len(losses)],
        "losses": losses,
        "smooth": smooth,
        "lr_min": lrs[i_min],
        "loss_min": s_min,
        "loss_start": first,
        "lr_diverge": lrs[div] if div is not None else None,
        "suggested": lrs[i_min] / 10,
        # Minimum in the last half decade and no divergence: the loss was still falling at the
        # top of the scan (e.g. a linear model on separable data), so lr_min is only a bound.
        "at_edge": div is None and i_min >= len(losses) - 1 - per_decade // 2,
        "steps_per_decade": per_decade,
    }


def lr_steps_per_decade(ctx: Context) -> int:
    return max(MIN_LR_STEPS_PER_DECADE, round(LR_STEPS_PER_DECADE * ctx.scale))


def plan_steps(ctx: Context) -> float:
    """The training steps (batches of BATCH) of every probe at full size."""
    decades = math.log10(max(10.0, ctx.lr * 10) / (min(1e-6, ctx.lr / 10) if ctx.lr > 0 else 1e-6))
    return (
        STEPS
        + decades * LR_STEPS_PER_DECADE
        + OVERFIT_STEPS / 2
        + INPUT_STEPS
        + INPUT_EVALS * batch_len(ctx.xv) / BATCH
    )


def _centred_mean(values: list[float], window: int) -> list[float]:
    half = window // 2
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - half) : i + half + 1]
        out.append(sum(chunk) / len(chunk) if all(math.isfinite(v) for v in chunk) else math.nan)
    return out


def lr_range_ok(ctx: Context) -> bool:
    try:
        return bool(lr_range(ctx).get("ok"))
    except (UserCodeError, BudgetExceeded):
        return False


def good_lr(ctx: Context) -> float:
    """The learning rate for the training probes: the range test's suggestion, else the user's."""
    try:
        r = lr_range(ctx)
    except (UserCodeError, BudgetExceeded):
        return ctx.lr
    return r["suggested"] if r.get("ok") else ctx.lr


# -- overfit one batch ---------------------------------------------------------------------------
def overfit(ctx: Context) -> dict[str, Any]:
    return cached(ctx, "overfit", _overfit)


def _overfit(ctx: Context) -> dict[str, Any]:
    """Memorise OVERFIT_SAMPLES samples with regularisation off; retry with Adam at two rates
    before blaming the model (the learning rate has its own checks)."""
    # A model memorises at most about as many samples as it has parameters per output: a
    # logistic regression on 4 features is not asked to memorise 32 samples.
    n_params = sum(p.numel() for p in ctx.model.parameters() if p.requires_grad)
    outputs = max(1, probes_outputs(ctx))
    xb, yb = ctx.batch(0, max(2, min(OVERFIT_SAMPLES, n_params // (4 * outputs))))
    target = _overfit_target(ctx, xb, yb)
    attempts = []
    # At the range test's suggested lr one attempt suffices; without a usable range test the
    # user's lr may be the problem, so Adam at two rates gets a chance before blaming the model.
    # The suggestion (lr_min / 10) is a cautious training rate: dense outputs (segmentation)
    # memorise a batch more slowly, so a miss is retried once at lr_min / 3, still below the
    # loss minimum (measured: a built-in unet on 7 shapes images reaches 0.068 in 300 steps at
    # 1e-3, 0.005 at 3e-3, target 0.035).
    tries = ("user", "user-lr-min/3") if lr_range_ok(ctx) else ("user", "adam-1e-3", "adam-1e-2")
    if ctx.scale < 1:
        tries = tries[:2]  # shrunk to fit the budget: one retry
    full = max(MIN_OVERFIT_STEPS, int(OVERFIT_STEPS * ctx.scale))

    def steps_for(how: str) -> int:
        return full if how.startswith("user") else full // 2

    # Batches of at most 32 cost about half a step of BATCH. The first attempt must fit (a
    # probe cut short by the budget is wasted); a retry that does not fit is left out, and the
    # result is then inconclusive.
    ctx.afford(0.5 * steps_for(tries[0]), "the overfit-one-batch probe")
    cut = False
    for k, how in enumerate(tries):
        if k > 0:
            try:
                ctx.afford(0.5 * steps_for(how), "an overfit retry")
            except BudgetExceeded:
                cut = True
                break
        m = regularisation_off(ctx.fresh())
        if how == "user":
            opt, _ = ctx.optimizer(m, lr=good_lr(ctx), weight_decay=0.0)
        elif how == "user-lr-min/3":
            opt, _ = ctx.optimizer(m, lr=lr_range(ctx)["lr_min"] / 3, weight_decay=0.0)
        else:
            opt = torch.optim.Adam(
                [p for p in m.parameters() if p.requires_grad], lr=float(how[5:])
            )
        first, last, step = None, math.inf, 0
        budget = steps_for(how)
        for step in range(1, budget + 1):  # noqa: B007 - `step` is reported below
            opt.zero_grad(set_to_none=True)
            loss = ctx.loss(ctx.forward(m, xb), yb)
            last = float(loss.detach())
            first = last if first is None else first
            if not math.isfinite(last) or last < target:
                break
            if loss.requires_grad:
                user_call("loss", loss.backward)
            user_call("optimizer", opt.step)
        attempts.append({"optimizer": how, "first": first, "last": last, "steps": step})
        if last < target:
            break
    m.eval()
    with torch.no_grad():
        out = ctx.forward(m, xb).detach()
    return {
        "target": target,
        "attempts": attempts,
        "shrunk": full < OVERFIT_STEPS or cut,  # fewer steps than the thresholds were measured with
        "passed": attempts[-1]["last"] < target,
        "out": out,
        "y": yb,
        "samples": len(xb),
    }


def probes_outputs(ctx: Context) -> int:
    try:
        return int(init(ctx)["out"][0].numel())
    except UserCodeError:
        return 1


def _overfit_target(ctx: Context, xb: Tensor, yb: Tensor) -> float:
    """'Close to zero': within 5% of the way from the loss floor (0 for cross-entropy/MSE; more
    with label smoothing) to the loss of predicting the prior/mean on this batch.

    For 10 balanced classes: cross-entropy below 0.115, every sample classified with
    probability > 0.89; for regression, an R^2 above 0.95 on the batch.
    """
    out = init(ctx)["out"][: len(yb)]
    ideal = ctx.prior_output(out)
    try:
        ref = float(ctx.loss(ideal, yb)) if ideal is not None else math.nan
    except UserCodeError:
        ref = math.nan
    if not math.isfinite(ref):
        ref = ctx.task.expected_init_loss(yb.cpu())
    floor = ctx.loss_floor(out, yb)
    return floor + 0.05 * max(ref - floor, 1e-8)


# -- real vs zeroed inputs -------------------------------------------------------------------------
def inputs(ctx: Context) -> dict[str, Any]:
    return cached(ctx, "inputs", _inputs_or_slower)


# Real and zeroed inputs ending at the same held-out loss (to 1e-6) means both copies collapsed
# to one constant output. At the range test's rate that can be the rate's doing: a healthy small
# unet with a per-image Dice loss, lr 0.038, ended at 0.347501 for both; at 0.0038 real 0.655 vs
# zeroed 0.731, t 13. A model that truly ignores its inputs stays identical at any rate.
COLLAPSED = 1e-6


def _inputs_or_slower(ctx: Context) -> dict[str, Any]:
    r = _inputs(ctx)
    same = abs(r["real"] - r["zero"]) <= COLLAPSED * max(abs(r["zero"]), 1e-12)
    if not same or r["lr"] != good_lr(ctx):
        return r
    try:
        slower = _inputs(ctx, lr=r["lr"] / 10)
    except BudgetExceeded:
        return r
    return {**slower, "collapsed_at": r["lr"]}


def inputs_at(ctx: Context, lr: float) -> dict[str, Any]:
    """The probe with the user's weight decay at rate `lr` (`inputs` runs at the range test's
    rate): what the decay-off probe's retry at the user's rate is compared with."""
    return cached(ctx, f"inputs_at_{lr:.6g}", lambda c: _inputs(c, lr=lr))


def inputs_without_weight_decay(ctx: Context) -> dict[str, Any]:
    """The same probe with the optimizer's weight decay set to 0: at the range test's rate,
    then, if the inputs still look useless, at the user's own rate (the range test ran with
    the strong decay, so its rate may not suit training without it: a GRU with AdamW weight
    decay 1e3 looked input-ignored at the range test's rate even with decay off)."""

    def run(c: Context) -> dict[str, Any]:
        first = _inputs(c, weight_decay=0.0)
        if first["t"] >= 3.0 or not (c.lr > 0 and math.isfinite(c.lr)) or c.lr == first["lr"]:
            return first
        second = _inputs(c, weight_decay=0.0, lr=c.lr)
        return second if second["t"] > first["t"] else first

    return cached(ctx, "inputs_no_wd", run)


def _inputs(
    ctx: Context, weight_decay: float | None = None, lr: float | None = None
) -> dict[str, Any]:
    """Train two copies (same init, batches, optimizer and lr) on real and on all-zero inputs;
    compare their per-sample held-out losses (paired)."""
    lr = good_lr(ctx) if lr is None else lr
    n_steps = max(MIN_INPUT_STEPS, int(INPUT_STEPS * ctx.scale))
    n_heldout = max(256, int(batch_len(ctx.xv) * ctx.scale))
    size = input_batch(ctx, n_steps)
    # Two trainings of n_steps batches of `size`, plus 2 x INPUT_EVALS held-out passes.
    ctx.afford(
        2 * n_steps * size / BATCH + INPUT_EVALS * n_heldout / BATCH,
        "the real-vs-zeroed-inputs probe",
    )
    results = {}
    trained = None
    for variant in ("real", "zero"):
        m = ctx.fresh()
        opt, _ = ctx.optimizer(m, lr=lr, weight_decay=weight_decay)
        best: list[float] | None = None
        every = n_steps // INPUT_EVALS
        for i in range(1, n_steps + 1):
            xb, yb = ctx.batch(i, size)
            if variant == "zero":
                xb = ctx.task.blank_inputs(xb)
            opt.zero_grad(set_to_none=True)
            loss = ctx.loss(ctx.forward(m, xb), yb)
            if loss.requires_grad:
                user_call("loss", loss.backward)
            user_call("optimizer", opt.step)
            if i % every == 0:
                chunks = _heldout_losses(ctx, m, zero=variant == "zero", n=n_heldout)
                if best is None or _mean(chunks) < _mean(best):
                    best = chunks
        results[variant] = best
        if variant == "real":
            trained = m
    real, zero = results["real"], results["zero"]
    # The zero-input model can only learn the prior, and may learn it badly in few steps: the
    # baseline is the better of it and the exact prior/mean prediction.
    prior = _heldout_losses(ctx, trained, zero=False, prior=True, n=n_heldout)
    if prior and _mean(prior) < _mean(zero):
        zero = prior
    diffs = [z - r for r, z in zip(real, zero, strict=True) if math.isfinite(z - r)]
    mean = _mean(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1))
    t = mean / (sd / math.sqrt(len(diffs))) if sd > 0 else (math.inf if mean > 0 else 0.0)
    return {
        "real": _mean(real),
        "zero": _mean(zero),
        "t": t,
        "samples": len(diffs),
        "lr": lr,
        "steps": n_steps,
        "trained": trained,
    }


def _heldout_losses(
    ctx: Context, model: nn.Module, *, zero: bool, prior: bool = False, n: int | None = None
) -> list[float]:
    """Per-sample held-out losses (eval mode): outputs in batches, the loss one sample at a time."""
    model.eval()
    out = []
    n = batch_len(ctx.xv) if n is None else min(n, batch_len(ctx.xv))
    with torch.no_grad():
        for s in range(0, n, 256):
            xb = batch_to(batch_take(ctx.xv, slice(s, min(s + 256, n))), ctx.device)
            yb = ctx.yv[s : min(s + 256, n)].to(ctx.device)
            o = ctx.forward(model, ctx.task.blank_inputs(xb) if zero else xb)
            if prior:
                o = ctx.prior_output(o)
                if o is None:
                    return []
            out += [float(ctx.loss(o[i : i + 1], yb[i : i + 1])) for i in range(len(xb))]
    model.train()
    return out


def _mean(v: list[float]) -> float:
    return sum(v) / len(v) if v else math.nan


__all__ = ["BATCH", "init", "steps", "lr_range", "overfit", "inputs", "relu_activity", "good_lr"]
