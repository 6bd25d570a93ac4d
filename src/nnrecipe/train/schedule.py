"""Learning-rate schedules as pure functions of the step: nothing to save for an exact resume."""

from __future__ import annotations

import math

from nnrecipe.errors import ConfigError

SCHEDULES = ("one-cycle", "warmup-cosine", "constant")


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the peak learning rate at `step` (0-based) of `total` steps.

    - ``one-cycle`` (Smith 2018, fastai's defaults): cosine warm-up from 1/25 of the peak over
      the first 25% of steps, then cosine annealing down to 1/25e4 of the peak.
    - ``warmup-cosine``: linear warm-up over the first 5% of steps, then cosine to zero.
    - ``constant``: the peak throughout.
    """
    t = min(step, max(total - 1, 0)) / max(total - 1, 1)
    if schedule == "one-cycle":
        start, end, pct = 1 / 25, 1 / 25e4, 0.25
        if t < pct:
            return _cos(start, 1.0, t / pct)
        return _cos(1.0, end, (t - pct) / (1 - pct))
    if schedule == "warmup-cosine":
        pct = 0.05
        if t < pct:
            return max(t / pct, 1e-3)
        return _cos(1.0, 0.0, (t - pct) / (1 - pct))
    if schedule == "constant":
        return 1.0
    raise ConfigError(f"Unknown schedule {schedule!r}: use one of {', '.join(SCHEDULES)}.")


def _cos(a: float, b: float, frac: float) -> float:
    """Cosine interpolation from a (frac=0) to b (frac=1)."""
    return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2
