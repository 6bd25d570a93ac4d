"""The same geometric augmentation for an image and its mask (torchvision transforms v2).

Each sample of a batch gets its own random horizontal / vertical flip and small affine
transform (rotation up to 15°·s, translation up to 10%·s of the side, scale 1 ± 0.1·s, for a
strength s in [0, 1]). The image goes through as a ``tv_tensors.Image`` (bilinear), the mask as
a ``tv_tensors.Mask``, which torchvision always resamples with nearest-neighbour: interpolating
class indices would invent classes along the borders (between 0 and 2 lies 1). Pixels moved in
from outside the image are 0 in the (standardised) image and background (0) in the mask.

Every random number comes from the `generator` passed in, never from torch's global one, so a
run that resumes with the generator's saved state draws the same transforms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nnrecipe.errors import ConfigError


def joint_augment(
    x: Tensor, y: Tensor, generator: torch.Generator, *, strength: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Flip and affine-transform images ``(B, C, H, W)`` and masks ``(B, H, W)`` alike.

    Deterministic given the generator's state. Returns new tensors (the inputs are untouched).

    Example:
        >>> import torch
        >>> x, y = torch.randn(2, 1, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)
        >>> xa, ya = joint_augment(x, y, torch.Generator().manual_seed(0))
        >>> xa.shape, ya.shape, ya.dtype
        (torch.Size([2, 1, 8, 8]), torch.Size([2, 8, 8]), torch.int64)
    """
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if not 0 <= strength <= 1:
        raise ConfigError(f"The augmentation strength must be in [0, 1], got {strength}.")
    b = x.shape[0]
    h, w = x.shape[-2:]
    s = float(strength)
    # All parameters drawn at once on the CPU from the generator: (B, 6).
    u = torch.rand((b, 6), generator=generator)
    xs, ys = [], []
    for i in range(b):
        image = tv_tensors.Image(x[i])
        mask = tv_tensors.Mask(y[i])
        if u[i, 0] < 0.5:
            image, mask = TF.horizontal_flip(image), TF.horizontal_flip(mask)
        if u[i, 1] < 0.5:
            image, mask = TF.vertical_flip(image), TF.vertical_flip(mask)
        if s > 0:
            angle = float(15 * s * (2 * u[i, 2] - 1))
            tx = round(float(0.1 * s * w * (2 * u[i, 3] - 1)))
            ty = round(float(0.1 * s * h * (2 * u[i, 4] - 1)))
            scale = float(1 + 0.1 * s * (2 * u[i, 5] - 1))
            params = {"angle": angle, "translate": [tx, ty], "scale": scale, "shear": [0.0, 0.0]}
            image = TF.affine(image, **params, interpolation=InterpolationMode.BILINEAR, fill=0.0)
            mask = TF.affine(mask, **params, fill=0)  # a Mask is always resampled NEAREST
        xs.append(image.as_subclass(Tensor))
        ys.append(mask.as_subclass(Tensor))
    return torch.stack(xs), torch.stack(ys)
