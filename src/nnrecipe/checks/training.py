"""Checks that train copies of the model briefly: `lr-too-high`, `lr-too-low`,
`cannot-overfit-batch`, `input-ignored`."""

from __future__ import annotations

import math

from nnrecipe.checks import probes
from nnrecipe.checks.context import BudgetExceeded, Context
from nnrecipe.findings import Finding

# Learning-rate thresholds, from training 4 setups for 10 epochs (constant lr, no clipping) at
# multiples of the range test's lr_min (valid accuracy):
#   lr_min x   1e-4  1e-3  1e-2  0.1   1     3     10
#   MLP/Adam   .142  .847  .958  .983  .504  .175  .136   (lr_diverge = 2.6 lr_min)
#   CNN/Adam   .226  .760  .955  .994  .992  .986  .958   (lr_diverge = 2.6 lr_min)
#   CNN1d/SGD  .114  .151  .306  .664  .901  .916  .325   (lr_diverge = 147 lr_min)
#   MLP/AdamW  .623  .816  .982  .991  .974  .991  .974   (no divergence up to lr 10)
# lr-too-high: error at or beyond the lr where the range test diverged; warning above 10x
# lr_min (3x would flag the SGD and BatchNorm setups that train best there).
LR_HIGH_FACTOR = 10.0
# lr-too-low: every setup loses 7-77 accuracy points at lr_min/1000; warning below lr_min/300.
LR_LOW_FACTOR = 300.0
# input-ignored: flagged when the real-input model is not clearly significant (paired t of the
# per-sample held-out loss difference below INPUT_T) over the better of the zero-input model and
# the exact prior; error when it is not better at all (relative gain <= 0). Measured
# (bench/zoo.py --measurements, 100 steps of 32): healthy setups t 3.7-99 with gain 0.32-0.95
# (the weakest: diabetes, 88 held-out samples, t 3.7, gain 0.41); planted shuffled/rolled labels
# and ignored inputs: t -5.7..-0.27, gain -0.23..0.00. A large gain alone no longer passes: on
# a small table (114 held-out samples) shuffled labels reached gain 0.05-0.1 by chance with t < 3.
INPUT_T = 3.0
INPUT_GAIN = 0.05  # below this relative gain a significant model still learned almost nothing
# ... and a large gain passes whatever t says: the healthy penguins table (69 held-out rows, two
# near-perfectly separable classes) gave gain 0.999 with t 1.67 (a few rows carry all of the
# zero-input model's loss); chance gains of shuffled labels reached 0.1, healthy setups >= 0.32.
INPUT_GAIN_PASS = 0.25
# weight-decay-too-high: the probe rerun with weight decay off. Measured (mutation zoo, AdamW
# weight decay 1e3, 6 setups): with decay t -1.3..2.8, gain -0.05..0.00; without decay t
# 15-99, gain 0.36-0.90. The rerun only happens when decay is on and the gain is below 0.1:
# healthy AdamW 1e-2 setups (built-ins) have gains 0.56-0.93 and never pay for it. Error when
# decay alone makes the inputs useless; warning when it takes more than half of the gain away.
WD_GAIN_SHARE = 0.5


def _range(ctx: Context) -> dict | None:
    r = probes.lr_range(ctx)
    ctx.stats["lr_range"] = {k: v for k, v in r.items() if k != "smooth"}
    ctx.stats["lr_range"]["configured"] = ctx.lr
    return r if r.get("ok") else None


def lr_too_high(ctx: Context) -> list[Finding]:
    """The configured lr where the range test's loss diverged, or far above its minimum."""
    r = _range(ctx)
    if r is None:
        return []
    diverged = r["lr_diverge"] is not None and ctx.lr >= r["lr_diverge"]
    if not diverged and ctx.lr <= r["lr_min"] * LR_HIGH_FACTOR:
        return []
    ev = {
        "configured": ctx.lr,
        "lr_at_min_loss": r["lr_min"],
        "lr_diverge": r["lr_diverge"],
        "suggested": r["suggested"],
    }
    return [
        ctx.finding(
            "lr-too-high",
            "error" if diverged else "warning",
            f"The learning rate {ctx.lr:g} is above {r['lr_min']:.2g}, where the range test's loss "
            f"stops falling{' and diverges' if diverged else ''}; about {r['suggested']:.2g} is suggested.",
            ev,
            f"Use a learning rate near {r['suggested']:.2g} (the range-test curve is in the evidence).",
        )
    ]


def lr_too_low(ctx: Context) -> list[Finding]:
    """The configured lr orders of magnitude below the range test's loss minimum."""
    r = _range(ctx)
    if r is None or ctx.lr * LR_LOW_FACTOR >= r["lr_min"]:
        return []
    if r.get("at_edge"):
        return [
            ctx.finding(
                "lr-too-low",
                "info",
                f"The range test's loss was still falling at the largest rate tried ({r['lr_min']:.2g}), "
                f"{r['lr_min'] / ctx.lr:.0f}x the configured {ctx.lr:g}: larger rates may train faster.",
                {"configured": ctx.lr, "lr_at_min_loss": r["lr_min"], "at_edge": True},
            )
        ]
    ev = {
        "configured": ctx.lr,
        "lr_at_min_loss": r["lr_min"],
        "suggested": r["suggested"],
        "factor_below_min": r["lr_min"] / ctx.lr,
    }
    return [
        ctx.finding(
            "lr-too-low",
            "warning",
            f"The learning rate {ctx.lr:g} is {r['lr_min'] / ctx.lr:.0f}x below {r['lr_min']:.2g}, "
            f"where the range test's loss is lowest; about {r['suggested']:.2g} is suggested.",
            ev,
            f"Use a learning rate near {r['suggested']:.2g} (the range-test curve is in the evidence).",
        )
    ]


def cannot_overfit_batch(ctx: Context) -> list[Finding]:
    """One small batch, regularisation off: the loss must reach 5% of the prior loss."""
    o = probes.overfit(ctx)
    ctx.stats["overfit"] = {k: v for k, v in o.items() if k not in ("out", "y")}
    if o["passed"]:
        return []
    best = min((a["last"] for a in o["attempts"] if math.isfinite(a["last"])), default=math.nan)
    tried = ", ".join(
        f"{a['optimizer']} ({a['steps']} steps: {a['first']:.3g} -> {a['last']:.3g})"
        for a in o["attempts"]
    )
    if o.get("shrunk"):
        # Shrunk to fit the time budget: a loss still falling when the steps ran out proves
        # nothing (the image-folder measurement in probes.py), so it is only a hint.
        return [
            ctx.finding(
                "cannot-overfit-batch",
                "info",
                f"Within the time budget, one batch of {o['samples']} samples was trained for "
                f"fewer steps than usual and the loss reached {best:.3g} (target "
                f"{o['target']:.3g}); tried {tried}. Inconclusive: rerun with a larger budget.",
                {"target": o["target"], "attempts": o["attempts"], "shrunk": True},
            )
        ]
    return [
        ctx.finding(
            "cannot-overfit-batch",
            "error",
            f"Trained on one batch of {o['samples']} samples without regularisation, the loss only "
            f"reaches {best:.3g} (target {o['target']:.3g}); tried {tried}.",
            {"target": o["target"], "attempts": o["attempts"], "samples": o["samples"]},
        )
    ]


def _gain(r: dict) -> float:
    return (r["zero"] - r["real"]) / abs(r["zero"]) if r["zero"] else math.nan


def _ignored(r: dict) -> bool:
    """The real-input model is not clearly better than the zero-input one."""
    gain = _gain(r)
    return math.isfinite(gain) and r["t"] < INPUT_T and gain < INPUT_GAIN_PASS


def _with_decay(ctx: Context, r0: dict | None) -> dict:
    """The probe with the user's decay at the rate the decay-off probe `r0` ran at: its retry
    may run at the user's own rate, where a rate too low for the model (the range test's)
    is no longer in the comparison. Measured on movielens-100k, `collab-blend`: at the range
    test's rate 1.2e-4 with decay, gain 0.02; off, retried at 3e-3, gain 0.28, blamed on a
    decay of 0.01 (an error that stopped the run)."""
    r = probes.inputs(ctx)
    if r0 is None or r0["lr"] == r["lr"]:
        return r
    try:
        return probes.inputs_at(ctx, r0["lr"])
    except BudgetExceeded:
        return r


def _decay_is_the_cause(ctx: Context) -> tuple[bool, dict | None]:
    """With the user's weight decay the inputs look useless; with it off they help."""
    if ctx.weight_decay <= 0 or not _ignored(probes.inputs(ctx)):
        return False, None
    r0 = probes.inputs_without_weight_decay(ctx)
    r = _with_decay(ctx, r0)
    # The decay is the cause only if turning it off lets the model fit held-out data better
    # (a healthy unet with Dice loss: 0.35 with decay, 0.66 without, both "ignored" or not by
    # chance of the short probe: no decay problem).
    better = math.isfinite(r0["real"]) and r0["real"] < r["real"]
    return _ignored(r) and (not _ignored(r0)) and better, r0


def input_ignored(ctx: Context) -> list[Finding]:
    """Held-out loss of the model trained on real inputs vs on zeroed inputs."""
    r = probes.inputs(ctx)
    gain = _gain(r)
    ev = {
        "heldout_loss_real": r["real"],
        "heldout_loss_zero": r["zero"],
        "t": r["t"],
        "gain": gain,
        "samples": r["samples"],
        "steps": r.get("steps"),
        "lr": r["lr"],
    }
    ctx.stats["input_ignored"] = ev
    if not _ignored(r):
        return []
    if _decay_is_the_cause(ctx)[0]:
        return []  # weight-decay-too-high names the cause
    sev = "error" if gain <= 0 else "warning"
    return [
        ctx.finding(
            "input-ignored",
            sev,
            f"Trained on real inputs, the model's held-out loss is {r['real']:.4g}; trained on "
            f"all-zero inputs, {r['zero']:.4g} (paired t = {r['t']:.2f}): the inputs do not help "
            "predict the labels.",
            ev,
        )
    ]


def weight_decay_too_high(ctx: Context) -> list[Finding]:
    """The input-ignored probe with the user's weight decay vs with weight decay off."""
    if ctx.weight_decay <= 0:
        return []
    r = probes.inputs(ctx)
    gain = _gain(r)
    cause, r0 = _decay_is_the_cause(ctx)
    if r0 is None and math.isfinite(gain) and gain < 2 * INPUT_GAIN:
        r0 = probes.inputs_without_weight_decay(ctx)  # weak with decay: how much does it cost?
    if r0 is None:
        return []
    r = _with_decay(ctx, r0)
    gain, gain0 = _gain(r), _gain(r0)
    ev = {
        "weight_decay": ctx.weight_decay,
        "heldout_loss_with_decay": r["real"],
        "heldout_loss_without_decay": r0["real"],
        "heldout_loss_zero_inputs": r["zero"],
        "gain_with_decay": gain,
        "gain_without_decay": gain0,
        "t_with_decay": r["t"],
        "t_without_decay": r0["t"],
    }
    ctx.stats["weight_decay"] = ev
    lost = (
        math.isfinite(gain0)
        and gain0 >= INPUT_GAIN
        and gain < WD_GAIN_SHARE * gain0
        and r0["real"] < r["real"]  # turning the decay off must help the held-out fit
    )
    if not (cause or lost):
        return []
    return [
        ctx.finding(
            "weight-decay-too-high",
            "error" if cause else "warning",
            f"With weight decay {ctx.weight_decay:g}, the model trained briefly reaches a held-out "
            f"loss of {r['real']:.4g} (inputs zeroed: {r['zero']:.4g}); with weight decay off, "
            f"{r0['real']:.4g}: the decay erases what the model learns.",
            ev,
        )
    ]
