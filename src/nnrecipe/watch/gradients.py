"""Watch checks on gradients: `missing-zero-grad`, `zero-grad-in-accumulation`,
`params-not-updated`, `exploding-gradients`, `non-finite`."""

from __future__ import annotations

import statistics

from nnrecipe.findings import Finding
from nnrecipe.watch.codes import finding
from nnrecipe.watch.recorder import Recorder
from nnrecipe.watch.records import OptRecord
from nnrecipe.watch.timeline import at, where

# A gradient pattern is reported when it shows in at least MIN_WINDOWS observed steps and in
# at least half of them. Measured on the loop zoo (15-21 observed steps per optimizer): planted
# missing zero_grad 0.95-1.00 of the steps carried, zero_grad inside accumulation 1.00 split;
# all 12 healthy loops 0.00 of both (deliberate accumulation, GAN, GradScaler on CPU). The half
# is a margin for a CUDA GradScaler skipping its first steps (not measured here: no GPU).
MIN_WINDOWS = 3
# params-not-updated: an error from 1% of the trainable weights, as in nr.check.
NO_GRAD_ERROR_FRACTION = 0.01
MIN_SHARE = 0.5
# exploding-gradients: the sampled global gradient norm rising above this many times its median
# over the first sampled steps. Measured on the loop zoo: healthy loops peak at 0.61-1.41x their
# early median (MLPs, CNNs, GAN, SGD/Adam, one-cycle, mixed precision), the planted
# missing-zero-grad loops at 4-12x; full-batch gradient descent at 2.2 / curvature reaches
# 2.8e7x by step 120, SGD at 8e-3 on targets of scale 10 1.1e12x before overflowing. A
# divergence that overflows between two sampled steps is reported as non-finite only.
EXPLODING_GROWTH = 1000.0
EARLY = 5


def _windows(rec: OptRecord) -> list[tuple[int, int, int]]:
    return [w for w in rec.windows if w[1] > 0]


def missing_zero_grad(rec: Recorder) -> list[Finding]:
    """Steps whose gradient was never cleared since the previous step."""
    found = []
    for o in rec.opts.values():
        if o is None:
            continue
        ws = _windows(o)
        stale = [w for w in ws if w[2] == 0]
        if len(stale) < MIN_WINDOWS or len(stale) < MIN_SHARE * len(ws):
            continue
        first = stale[0][0]
        found.append(
            finding(
                "missing-zero-grad",
                "error",
                f"The gradients of {o.name} (optimizer {o.index}) were never cleared between "
                f"optimizer steps in {len(stale)} of {len(ws)} observed steps, from {at(rec, first)}: "
                f"each step follows the sum of all past gradients (read on {o.probe_name}).",
                {
                    "optimizer": o.index,
                    "optimizer_class": o.name,
                    "steps_carried": len(stale),
                    "steps_observed": len(ws),
                    "first": where(rec, first),
                    "parameter": o.probe_name,
                },
            )
        )
    return found


def zero_grad_in_accumulation(rec: Recorder) -> list[Finding]:
    """Several backward passes before a step, more than one starting from cleared gradients."""
    found = []
    for o in rec.opts.values():
        if o is None:
            continue
        ws = _windows(o)
        split = [w for w in ws if w[1] >= 2 and w[2] >= 2]
        if len(split) < MIN_WINDOWS or len(split) < MIN_SHARE * len(ws):
            continue
        backwards = statistics.median(w[1] for w in split)
        first = split[0][0]
        found.append(
            finding(
                "zero-grad-in-accumulation",
                "error",
                f"{o.name} (optimizer {o.index}) steps after {backwards:g} backward passes, but the "
                f"gradients were cleared before {statistics.median(w[2] for w in split):g} of them "
                f"({len(split)} of {len(ws)} observed steps, from {at(rec, first)}): only the last "
                "micro-batch counts.",
                {
                    "optimizer": o.index,
                    "backwards_per_step": backwards,
                    "steps": len(split),
                    "steps_observed": len(ws),
                    "first": where(rec, first),
                    "parameter": o.probe_name,
                },
            )
        )
    return found


def params_not_updated(rec: Recorder) -> list[Finding]:
    """Trainable parameters in no optimizer, or never given a non-zero gradient."""
    opts = [o for o in rec.opts.values() if o is not None and o.steps > 0]
    if not opts:
        return []
    params = rec.trainable()
    numel = {n: p.numel() for n, p in params}
    total = sum(numel.values()) or 1
    covered = set().union(*(o.param_ids for o in opts))
    missing = [n for n, p in params if id(p) not in covered]
    found = []
    if missing:
        share = sum(numel[n] for n in missing) / total
        found.append(
            finding(
                "params-not-updated",
                "error" if share >= NO_GRAD_ERROR_FRACTION else "warning",
                f"{len(missing)} trainable parameter tensors ({share:.1%} of the weights) belong to "
                f"no optimizer that stepped, e.g. {', '.join(missing[:3])}: they keep their initial "
                "values.",
                {"missing": missing[:50], "share": share},
                "Build the optimizer over all trainable parameters (model.parameters()); freeze on "
                "purpose with requires_grad_(False).",
            )
        )
    steps = min(o.steps for o in opts)
    no_grad = [n for n in rec.pending_grad if n in numel and n not in missing]
    if no_grad and steps >= MIN_WINDOWS:
        share = sum(numel[n] for n in no_grad) / total
        found.append(
            finding(
                "params-not-updated",
                "error" if share >= NO_GRAD_ERROR_FRACTION else "warning",
                f"{len(no_grad)} trainable parameter tensors ({share:.1%} of the weights) never got "
                f"a non-zero gradient in {rec.steps} optimizer steps, e.g. {', '.join(no_grad[:3])}: "
                "unused in forward or cut off by detach()/no_grad().",
                {"no_gradient": no_grad[:50], "share": share, "steps": rec.steps},
            )
        )
    return found


def exploding_gradients(rec: Recorder) -> list[Finding]:
    """The global gradient norm growing by orders of magnitude during the loop."""
    norms = [(s, v) for s, v in rec.grad_norms if v == v and v != float("inf")]
    if len(norms) < EARLY + 1:
        return []
    base = statistics.median(v for _, v in norms[:EARLY])
    step, peak = max(norms[EARLY:], key=lambda sv: sv[1])
    if base <= 0 or peak < EXPLODING_GROWTH * base:
        return []
    return [
        finding(
            "exploding-gradients",
            "warning",
            f"The gradient norm grew {peak / base:.1e}-fold, from {base:.3g} over the first sampled "
            f"steps to {peak:.3g} at {at(rec, step)}.",
            {"early_norm": base, "peak_norm": peak, "peak": where(rec, step)},
            "Lower the learning rate, clip the gradient norm (torch.nn.utils.clip_grad_norm_), and "
            "check the inputs and the loss for huge values.",
        )
    ]


def non_finite(rec: Recorder) -> list[Finding]:
    """NaN or Inf in the loss, the model's outputs or the gradients (first occurrence)."""
    if not rec.nonfinite:
        return []
    order = [k for k in ("output", "loss", "gradient") if k in rec.nonfinite]
    first = min(rec.nonfinite[k]["step"] for k in order)
    parts = []
    for k in order:
        e = rec.nonfinite[k]
        value = f" = {e['value']}" if "value" in e else ""
        names = f" in {', '.join(e['parameters'][:3])}" if e.get("parameters") else ""
        parts.append(f"the {k}{value}{names} at {at(rec, e['step'])}")
    return [
        finding(
            "non-finite",
            "error",
            "NaN or Inf appeared: " + "; ".join(parts) + " (first sampled occurrences).",
            {k: {**rec.nonfinite[k], **where(rec, rec.nonfinite[k]["step"])} for k in order}
            | {"first_step": first},
        )
    ]
