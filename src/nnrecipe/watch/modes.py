"""Watch checks on train/eval modes and evaluation inputs: `eval-without-eval-mode`,
`train-in-eval-mode`, `augmented-validation`."""

from __future__ import annotations

import torch

from nnrecipe.findings import Finding
from nnrecipe.watch.codes import finding
from nnrecipe.watch.recorder import Recorder
from nnrecipe.watch.records import Phase
from nnrecipe.watch.timeline import at, evaluation_phases, where

# train-in-eval-mode: at least this many optimizer steps with dropout/BatchNorm in eval mode.
# Measured: planted loops 32-48 such steps (of 24-48); healthy zoo loops 0 (Lightning's sanity
# check restores train mode; a BatchNorm frozen with requires_grad_(False) does not count).
MIN_EVAL_MODE_STEPS = 3
# augmented-validation: share of one evaluation pass's input fingerprints absent from another
# pass of the same size. Measured: deterministic pipelines, shuffled or not, 0.0 exactly (12
# healthy loops); torchvision flip + crop(padding=1) on 8x8 digits 0.88-0.97; Gaussian noise
# 0.99-1.0. Matched within a relative 1e-5 (the same sample in a batch of another size may
# differ in the last bits of the projection).
UNMATCHED_SHARE = 0.1
MATCH_TOLERANCE = 1e-5


def eval_without_eval_mode(rec: Recorder) -> list[Finding]:
    """Evaluation passes (no grad, or no backward after them) with dropout/BatchNorm training."""
    phases = evaluation_phases(rec)
    bad = [p for p in phases if p.train_mode]
    if not bad:
        return []
    # One pass with grad and no backward may just be the loop's last forward.
    if len(bad) < 2 and bad[0].train_mode < 2 and not bad[0].no_grad:
        return []
    first = bad[0]
    passes = sum(p.train_mode for p in bad)
    return [
        finding(
            "eval-without-eval-mode",
            "warning",
            f"{passes} evaluation passes in {len(bad)} of {len(phases)} evaluation phases ran with "
            f"{', '.join(first.modules_in_train[:3])} in training mode, first after "
            f"{at(rec, first.step)}: dropout and BatchNorm behave as in training.",
            {
                "passes": passes,
                "phases": len(bad),
                "phases_seen": len(phases),
                "modules": first.modules_in_train,
                "first_after": where(rec, first.step),
                "no_grad_passes": sum(p.no_grad for p in bad),
            },
        )
    ]


def train_in_eval_mode(rec: Recorder) -> list[Finding]:
    """Optimizer steps with dropout or (trainable) BatchNorm modules in eval mode."""
    steps = rec.eval_mode_steps
    if len(steps) < MIN_EVAL_MODE_STEPS:
        return []
    return [
        finding(
            "train-in-eval-mode",
            "warning",
            f"{len(steps)} of {rec.steps} optimizer steps were taken with "
            f"{', '.join(rec.eval_mode_modules[:3])} in eval mode, from {at(rec, steps[0])}: "
            "model.eval() was not undone before training.",
            {
                "steps": len(steps),
                "steps_total": rec.steps,
                "first": where(rec, steps[0]),
                "modules": rec.eval_mode_modules[:10],
            },
        )
    ]


def _unmatched(a: Phase, b: Phase) -> float:
    """Share of `a`'s fingerprints with no equal fingerprint in `b`."""
    x = torch.cat(a.fingerprints).double()
    y = torch.sort(torch.cat(b.fingerprints).double()).values
    scale = float(y.abs().median()) or 1.0
    i = torch.searchsorted(y, x).clamp(1, len(y) - 1)
    near = torch.minimum((y[i] - x).abs(), (y[i - 1] - x).abs())
    return float((near > MATCH_TOLERANCE * (x.abs() + scale)).double().mean())


def augmented_validation(rec: Recorder) -> list[Finding]:
    """Two evaluation passes of the same size whose inputs differ."""
    phases = [p for p in evaluation_phases(rec) if p.samples > 1]
    pairs = []
    for a, b in zip(phases, phases[1:], strict=False):
        if a.samples == b.samples and a.passes == b.passes:
            pairs.append((a, b, _unmatched(a, b)))
    differ = [t for t in pairs if t[2] > UNMATCHED_SHARE]
    if not differ or len(differ) < 0.5 * len(pairs):
        return []
    a, b, share = differ[0]
    return [
        finding(
            "augmented-validation",
            "warning",
            f"{share:.0%} of the inputs of the evaluation pass after {at(rec, b.step)} differ from "
            f"those of the previous one ({a.samples} samples each; {len(differ)} of {len(pairs)} "
            "comparable pairs of passes differ): the evaluation data is randomly transformed.",
            {
                "unmatched_share": share,
                "samples": a.samples,
                "pairs_differing": len(differ),
                "pairs_compared": len(pairs),
                "first_after": where(rec, b.step),
            },
        )
    ]
