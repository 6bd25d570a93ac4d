"""Checks on what flows in and out: `non-finite`, `input-scale`, `target-scale`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.checks import probes
from nnrecipe.checks.context import Context, UserCodeError
from nnrecipe.data.batch import batch_len, tensors_of
from nnrecipe.findings import Finding

# input-scale: RMS of the worst feature/channel reaching the first parametrised layer.
# Measured: the 6 standardised built-in sets 1.0; digits in [0, 1] 0.48; digits as 0-255 pixels
# 124; raw sklearn tables: breast_cancer 1048, wine 810, iris (cm) 5.9, diabetes (pre-scaled
# by sklearn) 0.048. 10 sits an order of magnitude from unit scale on the high side; 0.01 on
# the low side (pixels divided by 255 twice: ~0.002).
INPUT_RMS_HIGH = 10.0
# Below 0.01 on every feature (e.g. pixels divided by 255 twice: RMS ~0.002).
INPUT_RMS_LOW = 0.01
# target-scale: regression target RMS above 10 or below 0.01 (same reasoning; raw diabetes
# targets: 171), unless the model's outputs at init are already within a factor 3 of that scale
# (it rescales itself, like the built-in Head: diabetes output RMS at init 152).
TARGET_RMS_HIGH = 10.0
TARGET_RMS_LOW = 0.01
OUTPUT_SCALE_FACTOR = 3.0
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def non_finite(ctx: Context) -> list[Finding]:
    """NaN/Inf in the data (rows left out of every other check), then in the model's outputs,
    the loss, and the gradients of one backward pass at init."""
    found = []
    if ctx.dropped:
        where = ", ".join(f"{n} in {k}" for k, n in ctx.dropped.items())
        found.append(
            ctx.finding(
                "non-finite",
                "error",
                f"The data holds NaN/Inf values ({where}); the checks below left those rows out, "
                "but one of them makes a training loss NaN.",
                {"rows": ctx.dropped},
                "Fill or drop the missing values, and guard normalisation against a zero standard "
                "deviation (std.clamp_min(1e-8)).",
            )
        )
    if ctx.broken:
        return found
    init = probes.init(ctx)
    parts = {"outputs": init["out"], "eval-mode outputs": init["out_eval"]}
    bad = {k: int((~torch.isfinite(v.float())).sum()) for k, v in parts.items()}
    bad = {k: v for k, v in bad.items() if v}
    if not math.isfinite(init["loss"]):
        bad["loss"] = 1
    grads = [
        n for n, g in init["grads"].items() if g is not None and not bool(torch.isfinite(g).all())
    ]
    if grads:
        bad["gradients"] = len(grads)
    if bad:
        what = ", ".join(bad)
        ctx.broken = f"non-finite {what} at init"
        found.append(
            ctx.finding(
                "non-finite",
                "error",
                f"On finite inputs, the model at init produces NaN/Inf in: {what} "
                f"(first gradients: {', '.join(grads[:3]) or 'none'}).",
                {"counts": bad, "parameters_with_nonfinite_grad": grads[:20], "loss": init["loss"]},
            )
        )
    return found


def input_scale(ctx: Context) -> list[Finding]:
    """What the first parametrised layer receives, per feature/channel; a normalisation layer
    first (BatchNorm, LayerNorm, ...) fixes any scale, so nothing is reported then."""
    first, rms = _first_layer_input(ctx)
    if first is not None and isinstance(first, NORM_LAYERS):
        ctx.stats["input_rms"] = {"first_layer": type(first).__name__, "normalises": True}
        return []
    if rms is None:  # no hookable layer (or the model crashed): judge the data itself
        rms = _feature_rms(ctx.x)
    hi = float(rms.max())  # the worst feature; `hi` below LOW means every feature is tiny
    ctx.stats["input_rms"] = {
        "max": hi,
        "median": float(rms.median()),
        "first_layer": type(first).__name__ if first is not None else None,
    }
    data_rms = _feature_rms(ctx.x)
    evidence = {
        "max_feature_rms_at_first_layer": hi,
        "max_feature_rms_of_data": float(data_rms.max()),
        "worst_features": torch.argsort(rms, descending=True)[:5].tolist(),
        "first_layer": type(first).__name__ if first is not None else None,
    }
    if hi > INPUT_RMS_HIGH:
        return [
            ctx.finding(
                "input-scale",
                "warning",
                f"The inputs reaching the first layer have RMS up to {hi:.3g} per feature/channel "
                f"(expected about 1; data range {_range(ctx.x)}).",
                evidence,
            )
        ]
    if hi < INPUT_RMS_LOW:
        return [
            ctx.finding(
                "input-scale",
                "warning",
                f"The inputs reaching the first layer are tiny: RMS at most {hi:.3g} per "
                "feature/channel (expected about 1).",
                evidence,
            )
        ]
    return []


def target_scale(ctx: Context) -> list[Finding]:
    """Regression targets far from unit scale, when the model's outputs at init are not."""
    if not ctx.task.applies("target-scale"):
        return []
    y = ctx.y.float().reshape(len(ctx.y), -1)
    y_rms = float(y.pow(2).mean().sqrt())
    evidence: dict[str, Any] = {
        "target_rms": y_rms,
        "target_mean": y.mean(0).tolist()[:10],
        "target_std": y.std(0).tolist()[:10],
    }
    if TARGET_RMS_LOW <= y_rms <= TARGET_RMS_HIGH:
        return []
    out_rms = None
    if not ctx.broken:
        try:
            out_rms = float(probes.init(ctx)["out"].float().pow(2).mean().sqrt())
        except UserCodeError:
            out_rms = None
    evidence["output_rms_at_init"] = out_rms
    if (
        out_rms is not None
        and y_rms / OUTPUT_SCALE_FACTOR <= out_rms <= y_rms * OUTPUT_SCALE_FACTOR
    ):
        return []  # the model's output already lives on the target scale (e.g. a scaled head)
    size = "large" if y_rms > TARGET_RMS_HIGH else "small"
    out_txt = f"{out_rms:.3g}" if out_rms is not None else "unknown"
    return [
        ctx.finding(
            "target-scale",
            "warning",
            f"The regression targets are {size}: RMS {y_rms:.3g} (mean {float(y.mean()):.3g}, std "
            f"{float(y.std()):.3g}), while the model's outputs at init have RMS {out_txt}.",
            evidence,
        )
    ]


def _range(x: Any) -> str:
    values = torch.cat([t.reshape(-1).float() for t in tensors_of(x)])
    return f"{float(values.min()):.3g}..{float(values.max()):.3g}"


def _feature_rms(x: Any) -> Tensor:
    """RMS per feature (tables) or per channel (signals, images): (N, C, ...) -> (C,); for
    several input tensors, the float ones side by side (ids and codes have no scale)."""
    if not isinstance(x, Tensor):
        floats = [t.reshape(len(t), -1) for t in tensors_of(x) if t.is_floating_point()]
        x = torch.cat(floats, 1) if floats else torch.zeros(batch_len(x), 1)
    x = x.float()
    if x.ndim == 1:
        x = x[:, None]
    return x.transpose(0, 1).reshape(x.shape[1], -1).pow(2).mean(1).sqrt()


def _first_layer_input(ctx: Context) -> tuple[nn.Module | None, Tensor | None]:
    """The first module with parameters to run in forward, and the RMS of its input per
    feature/channel over two batches."""
    if ctx.broken:
        return None, None
    m = ctx.fresh()
    seen: dict[str, Any] = {}

    def hook(mod: nn.Module, args: Any) -> None:
        if "mod" not in seen and args and isinstance(args[0], Tensor) and args[0].ndim >= 2:
            seen["mod"] = mod
            seen["rms"] = _feature_rms(args[0].detach())

    handles = [
        mod.register_forward_pre_hook(hook)
        for mod in m.modules()
        if any(True for _ in mod.parameters(recurse=False))
    ]
    try:
        with torch.no_grad():
            ctx.forward(m, ctx.batch(0, 256)[0])
    except UserCodeError:
        return None, None
    finally:
        for h in handles:
            h.remove()
    return seen.get("mod"), seen.get("rms")
