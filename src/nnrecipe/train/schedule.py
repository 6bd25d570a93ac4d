"""Learning-rate schedules as functions of the step and a few saved numbers (the warm-up length
and, once decided, the cooldown): an exact resume needs nothing else.

``auto`` treats the number of epochs as a budget: warm up, hold the peak while the validation
metric improves, and cool down when it stalls (early stopping's patience runs out) or when the
budget is nearly spent, then stop. The length of the run is measured, not guessed: a one-cycle
whose annealing starts when the run has learnt what it can at the peak rate (the
warmup-stable-decay schedule of Hägele et al. 2024, with the decay triggered by a plateau).

``one-cycle`` and ``warmup-cosine`` are fixed-length schedules over the given epochs. When early
stopping fires while their rate is still high (a 200-epoch one-cycle that stalls at epoch 30 is
still near its peak), they too cool down before stopping instead of keeping an un-annealed model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nnrecipe.errors import ConfigError

SCHEDULES = ("auto", "one-cycle", "warmup-cosine", "constant")
# one-cycle (fastai's defaults): from 1/25 of the peak up, then down to 1/25e4 of it.
START, END = 1 / 25, 1 / 25e4
# auto: warm-up epochs (at most a quarter of the budget): the 25% of the former 20-epoch default.
WARMUP_EPOCHS = 5
# A cooldown lasts this fraction of the epochs before it (Hägele et al. 2024: a cooldown of 20%
# of the steps matches a cosine schedule of the same length), at least MIN_COOLDOWN epochs.
COOLDOWN_FRACTION = 0.2
MIN_COOLDOWN = 3
# Early stopping below this fraction of the peak stops at once: the rate is annealed already.
COOL_ABOVE = 0.1


@dataclass(frozen=True)
class Cooldown:
    """A cosine from `factor` of the peak down to END over `steps` steps from step `start`."""

    start: int
    steps: int
    factor: float
    reason: str  # "plateau" (the valid metric stalled) or "budget" (the epochs ran out)

    def end(self) -> int:
        return self.start + self.steps

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cooldown_epochs(before: int, budget_left: int) -> int:
    """Epochs of a cooldown that starts after `before` epochs with `budget_left` epochs left."""
    return max(1, min(budget_left, max(MIN_COOLDOWN, math.ceil(COOLDOWN_FRACTION * before))))


def warmup_steps(epochs: int, steps_per_epoch: int) -> int:
    """auto's warm-up: WARMUP_EPOCHS, or a quarter of a smaller budget."""
    return round(min(WARMUP_EPOCHS, epochs / 4) * steps_per_epoch)


def budget_cooldown(epochs: int, steps_per_epoch: int, warmup: int) -> Cooldown:
    """auto's cooldown when the metric never stalls: it ends with the budget and lasts
    COOLDOWN_FRACTION of the epochs before it (c = f (E - c)), at least MIN_COOLDOWN epochs;
    never before the warm-up ends (a budget of 4 epochs or fewer is a one-cycle)."""
    c = max(MIN_COOLDOWN, math.ceil(epochs * COOLDOWN_FRACTION / (1 + COOLDOWN_FRACTION)))
    start = max(warmup, (epochs - c) * steps_per_epoch)
    return Cooldown(start, epochs * steps_per_epoch - start, 1.0, "budget")


def lr_factor(
    schedule: str, step: int, total: int, *, warmup: int = 0, cooldown: Cooldown | None = None
) -> float:
    """Multiplier of the peak learning rate at `step` (0-based) of `total` steps.

    - ``auto``: cosine warm-up from 1/25 of the peak over `warmup` steps, the peak until the
      `cooldown` starts, then cosine annealing down to 1/25e4 of the peak.
    - ``one-cycle`` (Smith 2018, fastai's defaults): cosine warm-up from 1/25 of the peak over
      the first 25% of steps, then cosine annealing down to 1/25e4 of the peak.
    - ``warmup-cosine``: linear warm-up over the first 5% of steps, then cosine to zero.
    - ``constant``: the peak throughout.

    A `cooldown` (decided when early stopping fires) replaces the schedule from its start.
    """
    if cooldown is not None and step >= cooldown.start:
        frac = min((step - cooldown.start) / max(cooldown.steps - 1, 1), 1.0)
        return _cos(cooldown.factor, END, frac)
    t = min(step, max(total - 1, 0)) / max(total - 1, 1)
    if schedule == "auto":
        return _cos(START, 1.0, step / warmup) if step < warmup else 1.0
    if schedule == "one-cycle":
        pct = 0.25
        if t < pct:
            return _cos(START, 1.0, t / pct)
        return _cos(1.0, END, (t - pct) / (1 - pct))
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
