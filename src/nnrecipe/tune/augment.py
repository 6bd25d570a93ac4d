"""Data augmentation by modality, with one knob: a strength in [0, 1] (0 = off).

Augmentation is a regularizer: it makes the training set look bigger and teaches invariances
the data should have. Each augmenter is applied by the `Learner` to every training batch
(``Learner(augment=...)``), never to validation or test batches. Randomness comes from torch's
global generator, which the `Learner` seeds and checkpoints, so augmented runs are reproducible
and resume exactly.

- images ``(B, C, H, W)``: torchvision transforms v2 ``RandomAffine`` per sample (rotation up to
  15°·s, translation up to 12.5%·s of the side, scale 1 ± 0.15·s);
- signals ``(B, C, L)``: jitter (Gaussian noise, σ = 0.1·s of the standardised signal), a random
  circular shift of up to 10%·s of the length, and a random gain of 1 ± 0.2·s;
- tables ``(B, F)``: Gaussian jitter (σ = 0.1·s of the standardised features).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nnrecipe.errors import ConfigError
from nnrecipe.tasks import Task

Augment = Callable[[Tensor], Tensor]


class SignalAugment:
    """Jitter, shift and scale for batches of 1-D signals ``(B, C, L)``."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def __call__(self, x: Tensor) -> Tensor:
        s = self.strength
        b, _, length = x.shape
        max_shift = max(1, round(0.1 * s * length))
        shifts = torch.randint(-max_shift, max_shift + 1, (b,), device=x.device)
        # Circular shift per sample via gathered indices: (B, C, L) -> (B, C, L).
        idx = (torch.arange(length, device=x.device)[None, :] - shifts[:, None]) % length
        x = x.gather(2, idx[:, None, :].expand_as(x))
        gain = 1 + 0.2 * s * (2 * torch.rand(b, 1, 1, device=x.device) - 1)
        return x * gain + 0.1 * s * torch.randn_like(x)

    def __repr__(self) -> str:
        return f"SignalAugment(strength={self.strength:g})"


class ImageAugment:
    """Per-sample random affine transforms (torchvision v2) for batches ``(B, C, H, W)``."""

    def __init__(self, strength: float) -> None:
        from torchvision.transforms import v2

        self.strength = s = strength
        # v2 transforms draw one set of parameters per call: a whole batch would move as one,
        # so they are applied sample by sample.
        self.transform = v2.RandomAffine(
            degrees=15 * s,
            translate=(0.125 * s, 0.125 * s),
            scale=(1 - 0.15 * s, 1 + 0.15 * s),
            interpolation=v2.InterpolationMode.BILINEAR,
        )

    def __call__(self, x: Tensor) -> Tensor:
        return torch.stack([self.transform(xi) for xi in x])

    def __repr__(self) -> str:
        return f"ImageAugment(strength={self.strength:g})"


class TabularAugment:
    """Gaussian jitter on standardised features ``(B, F)``."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def __call__(self, x: Tensor) -> Tensor:
        return x + 0.1 * self.strength * torch.randn_like(x)

    def __repr__(self) -> str:
        return f"TabularAugment(strength={self.strength:g})"


class TargetAugment:
    """The task's own augmentation, for targets that move with the input (segmentation masks):
    ``aug(x, y, generator) -> (x, y)``. The `Learner` passes its shuffling generator, which it
    checkpoints, so resumed runs draw the same transforms."""

    takes_targets = True

    def __init__(self, task: Task, strength: float) -> None:
        self.task, self.strength = task, strength

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.task.augment(x, y, generator, strength=self.strength)  # type: ignore[call-arg]

    def __repr__(self) -> str:
        return f"TargetAugment({self.task.name}, strength={self.strength:g})"


AUGMENTERS = {"image": ImageAugment, "sequence": SignalAugment, "tabular": TabularAugment}


def make_augment(
    modality: str, strength: float | None, *, task: Task | None = None
) -> Augment | TargetAugment | None:
    """The augmenter for a modality at `strength` in [0, 1]; None when the strength is 0/None.

    A task that augments its targets with the input (it overrides `Task.augment`, e.g.
    segmentation: the same flips and affine transforms on image and mask) gets its own
    augmentation instead: transforming the image alone would misalign it with its mask.

    Example:
        >>> import torch
        >>> aug = make_augment("sequence", 0.5)
        >>> aug(torch.zeros(4, 1, 40)).shape
        torch.Size([4, 1, 40])
    """
    if strength is None or strength == 0:
        return None
    if not 0 < strength <= 1:
        raise ConfigError(f"The augmentation strength must be in [0, 1], got {strength}.")
    if modality not in AUGMENTERS:
        raise ConfigError(
            f"No augmentation for modality {modality!r}: known modalities are {', '.join(AUGMENTERS)}."
        )
    if task is not None and type(task).augment is not Task.augment:
        return TargetAugment(task, float(strength))
    return AUGMENTERS[modality](float(strength))
