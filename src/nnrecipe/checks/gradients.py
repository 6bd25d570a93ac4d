"""Checks on gradients and activations: `params-not-updated`, `vanishing-gradients`,
`exploding-gradients`, `dead-units`."""

from __future__ import annotations

import math
import statistics
from typing import Any

from nnrecipe.checks import probes
from nnrecipe.checks.context import BudgetExceeded, Context, UserCodeError
from nnrecipe.findings import Finding

# params-not-updated: parameters without gradient holding at least 1% of the trainable
# parameters are an error (a whole layer unused or detached); fewer are a warning.
NO_GRAD_ERROR_FRACTION = 0.01
# vanishing/exploding: |dL/d output| of the first trainable layer call vs the last hidden one
# (the output layer is left out: small last-layer weights, as in good inits, make it differ by
# 100x), median over the probe's optimizer steps. Measured ratio first/last-hidden:
#   healthy: kaiming ReLU MLPs depth 4-12: 0.68-0.93; BatchNorm MLPs depth 2-12: 3.2-21;
#   built-in residual CNNs depth 2-6: 1.9-35; small BN/GN CNNs: 2.6-2.9; plain CNN1d: 0.16.
#   PyTorch-default-init plain MLPs (a real but mild decay): ReLU depth 8 4.7e-3, depth 12
#   5.9e-5; GELU depth 8 4.9e-4; tanh depth 12 3.5e-3.
#   planted: 6-12 sigmoid layers 5e-5 / 5e-10; conv shared 16x gain 0.5: 4e-5 to 7e-5;
#   ReLU MLP gain 2.5 depth 12: 349; shared ReLU conv gain 2 x12: 866.
# Vanishing below 1e-3 (3 decades); exploding above 100 *and* a per-call growth above 1.25:
# healthy nets whose ratio exceeds 9 grow 1.08-1.17 per call (BN MLPs depth 8-12, residual
# CNNs depth 4-6), the planted ones 1.70-1.76.
VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 100.0
EXPLODING_PER_CALL = 1.25
MIN_CALLS = 4  # profiles shorter than this cannot vanish or explode by orders of magnitude
# dead-units: share of ReLU units (channels/features, in layers of >= 8 units) never active on
# 256 training samples, at init and still after the input-ignored probe's 100 steps. Measured
# before this rule (dead at init *or* after the probe's training): healthy zoo setups and
# built-ins 0.00-0.05, but healthy 1-D conv nets on [0, 1] signals 0.43-0.61, all of it units
# the probe's training killed at the range test's rate; side effects of other bugs (raw inputs,
# huge init) 0.17-0.45; planted bias -12 / BatchNorm beta -5: 0.80 / 1.00. Warning from 0.5,
# error from 0.9.
DEAD_WARNING = 0.5
DEAD_ERROR = 0.9
MIN_UNITS = 8


def params_not_updated(ctx: Context) -> list[Finding]:
    """Over a few steps of the user's optimizer: trainable parameters missing from it, never
    given a non-zero gradient, or unchanged after the steps."""
    s = probes.steps(ctx)
    total = sum(s["numel"].values()) or 1
    found = []
    if s["missing"]:
        share = sum(s["numel"][n] for n in s["missing"]) / total
        foreign = (
            f"; it holds {s['foreign']} tensors from outside the model" if s["foreign"] else ""
        )
        found.append(
            ctx.finding(
                "params-not-updated",
                "error",
                f"{len(s['missing'])} trainable parameter tensors ({share:.0%} of the weights) are not "
                f"in the optimizer, e.g. {', '.join(s['missing'][:3])}{foreign}.",
                {"missing": s["missing"][:50], "share": share, "foreign_tensors": s["foreign"]},
                "Build the optimizer from the parameters it is given (factory(params)), over the whole "
                "model; freeze on purpose with requires_grad_(False).",
            )
        )
    no_grad = [n for n in s["names"] if not s["got_grad"][n] and n not in s["missing"]]
    if no_grad:
        share = sum(s["numel"][n] for n in no_grad) / total
        sev = "error" if share >= NO_GRAD_ERROR_FRACTION else "warning"
        found.append(
            ctx.finding(
                "params-not-updated",
                sev,
                f"{len(no_grad)} trainable parameter tensors ({share:.1%} of the weights) got no "
                f"gradient in {probes.STEPS} steps, e.g. {', '.join(no_grad[:3])}: they are unused in "
                "forward or cut off by detach()/no_grad().",
                {"no_gradient": no_grad[:50], "share": share, "steps": probes.STEPS},
            )
        )
    stuck = [
        n for n in s["names"] if s["got_grad"][n] and not s["changed"][n] and n not in s["missing"]
    ]
    if stuck:
        found.append(
            ctx.finding(
                "params-not-updated",
                "error",
                f"{len(stuck)} parameter tensors got gradients but did not change in {probes.STEPS} "
                f"optimizer steps, e.g. {', '.join(stuck[:3])} (group learning rates: "
                f"{', '.join(f'{v:g}' for v in s['lr_groups'])}).",
                {"unchanged": stuck[:50], "lr_groups": s["lr_groups"]},
            )
        )
    return found


def _profile(ctx: Context) -> list[tuple[str, float]] | None:
    """Median |dL/d output| per trainable layer call (in forward order), over the steps;
    zero entries (e.g. zero-initialised residual branches at step 0) are ignored."""
    s = probes.steps(ctx)
    prof = []
    for k in sorted(s["deltas"]):
        vals = [v for v in s["deltas"][k] if v > 0 and math.isfinite(v)]
        if vals:
            prof.append((s["labels"][k], statistics.median(vals)))
    return prof if len(prof) >= MIN_CALLS else None


def _ratio(ctx: Context) -> tuple[float, dict[str, Any]] | None:
    prof = _profile(ctx)
    if prof is None:
        return None
    first, hidden = prof[0], prof[-2]
    ratio = first[1] / hidden[1]
    ctx.stats["gradient_profile"] = [{"layer": n, "grad_norm": v} for n, v in prof]
    return ratio, {
        "first_layer": first[0],
        "first_grad": first[1],
        "last_hidden_layer": hidden[0],
        "last_hidden_grad": hidden[1],
        "ratio": ratio,
        "layers": len(prof),
    }


def vanishing_gradients(ctx: Context) -> list[Finding]:
    """The gradient reaching the first layer vs the last hidden layer."""
    r = _ratio(ctx)
    if r is None or r[0] >= VANISHING_RATIO:
        return []
    ratio, ev = r
    return [
        ctx.finding(
            "vanishing-gradients",
            "warning",
            f"The gradient at the first layer ({ev['first_layer']}) is {ratio:.1e} times the one at "
            f"the last hidden layer ({ev['last_hidden_layer']}), across {ev['layers']} layer calls.",
            ev,
        )
    ]


def exploding_gradients(ctx: Context) -> list[Finding]:
    """Gradients growing by orders of magnitude from the last hidden layer to the first."""
    s = probes.steps(ctx)
    rel = [v for v in s["rel_grad"] if math.isfinite(v)]
    rel_med = statistics.median(rel) if rel else math.inf
    ctx.stats["relative_grad_norm"] = rel_med
    r = _ratio(ctx)
    if (
        r is not None
        and r[0] > EXPLODING_RATIO
        and r[0] ** (1 / (r[1]["layers"] - 2)) > EXPLODING_PER_CALL
    ):
        ratio, ev = r
        return [
            ctx.finding(
                "exploding-gradients",
                "warning",
                f"The gradient grows {ratio:.1e}-fold from the last hidden layer "
                f"({ev['last_hidden_layer']}) to the first ({ev['first_layer']}), across "
                f"{ev['layers']} layer calls.",
                {**ev, "relative_grad_norm": rel_med},
            )
        ]
    return []


def dead_units(ctx: Context) -> list[Finding]:
    """ReLU units never active on 256 training samples at init that stay dead through the
    short training of the input-ignored probe: dead and not recovering.

    Units the probe's own training kills are not counted: it trains at the range test's
    learning rate, not the user's (lr-too-high reports a rate that kills units), and a unit
    dead at init that comes back during training cost nothing.
    """
    init_sites = [s for s in probes.relu_activity(ctx, ctx.fresh()) if s.numel() >= MIN_UNITS]
    when = "at init"
    sites = init_sites
    try:
        trained = probes.inputs(ctx)["trained"]
    except (UserCodeError, BudgetExceeded):
        trained = None
    if trained is not None:
        later = [s for s in probes.relu_activity(ctx, trained) if s.numel() >= MIN_UNITS]
        if len(later) == len(init_sites) and all(
            a.shape == b.shape for a, b in zip(init_sites, later, strict=True)
        ):
            sites = [a | b for a, b in zip(init_sites, later, strict=True)]  # alive at either
            when = "at init and after a short training"
    if not sites:
        return []
    dead = sum(int((~s).sum()) for s in sites)
    units = sum(s.numel() for s in sites)
    per_site = [round(float((~s).float().mean()), 3) for s in sites]
    info = {
        "when": when,
        "dead": dead,
        "units": units,
        "fraction": dead / units,
        "per_layer": per_site,
        "worst_layer": max(per_site),
        "dead_at_init": sum(int((~s).sum()) for s in init_sites) / max(units, 1),
    }
    ctx.stats["dead_units"] = info
    if info["fraction"] < DEAD_WARNING:
        return []
    sev = "error" if info["fraction"] >= DEAD_ERROR else "warning"
    return [
        ctx.finding(
            "dead-units",
            sev,
            f"{info['fraction']:.0%} of the ReLU units ({dead} of {units}) never activate on 256 "
            f"training samples ({when}).",
            info,
        )
    ]
