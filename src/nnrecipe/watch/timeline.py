"""Epochs and evaluation phases, read back from a `Recorder` after the loop."""

from __future__ import annotations

import statistics
from typing import Any

from nnrecipe.watch.recorder import Recorder
from nnrecipe.watch.records import Phase

# Runs of evaluation-like passes more frequent than one per FREQUENT_PHASES steps belong to the
# training step itself (a GAN's generator run under no_grad for the discriminator's step, a
# model called twice per step): they are not evaluation passes. Measured: the zoo's GAN makes
# 32 such runs in 64 steps; real evaluation makes 2-4 runs in 16-64 steps (one per epoch, plus
# Lightning's sanity check).
FREQUENT_PHASES = 4


def train_loader_starts(rec: Recorder) -> list[int]:
    """Optimizer steps taken before each start of the training DataLoader (the loader whose
    iterations are followed by the steps)."""
    totals: dict[int, int] = {}
    per: dict[int, list[int]] = {}
    starts = rec.loader_starts
    for i, (lid, steps, _) in enumerate(starts):
        nxt = starts[i + 1][1] if i + 1 < len(starts) else rec.steps
        totals[lid] = totals.get(lid, 0) + nxt - steps
        per.setdefault(lid, []).append(steps)
    if not totals or max(totals.values()) == 0:
        return []
    return per[max(totals, key=lambda k: totals[k])]


def evaluation_phases(rec: Recorder) -> list[Phase]:
    """The runs of evaluation passes, unless they are part of every training step."""
    if rec.steps >= FREQUENT_PHASES and rec.phase_count > rec.steps / FREQUENT_PHASES:
        return []
    return rec.phases


def steps_per_epoch(rec: Recorder) -> int | None:
    starts = train_loader_starts(rec)
    if len(starts) >= 2:
        return int(statistics.median(b - a for a, b in zip(starts, starts[1:], strict=False)))
    if len(starts) == 1:
        return rec.steps - starts[0] or None
    phases = [p for p in evaluation_phases(rec) if p.step > 0]
    return phases[0].step if phases else None


def epoch_of(rec: Recorder, step: int) -> int | None:
    """The (1-based) epoch of optimizer step `step` (1-based), when the loop shows epochs."""
    starts = train_loader_starts(rec)
    if starts:
        return max(1, sum(1 for s in starts if s < step))
    phases = [p for p in evaluation_phases(rec) if p.step > 0]
    if phases:
        return 1 + sum(1 for p in phases if p.step < step)
    return None


def where(rec: Recorder, step: int) -> dict[str, Any]:
    """Evidence of a place in the loop: the step and, when known, the epoch."""
    epoch = epoch_of(rec, step)
    return {"step": step, **({"epoch": epoch} if epoch is not None else {})}


def at(rec: Recorder, step: int) -> str:
    """'step 12 (epoch 2)' for messages."""
    epoch = epoch_of(rec, step)
    return f"step {step}" + (f" (epoch {epoch})" if epoch is not None else "")
