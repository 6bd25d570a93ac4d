"""The segmentation bug zoo: planted bugs in image + mask pipelines, and healthy setups.

Each case builds ``dict(model=..., data=..., loss=...)``. A case whose bug lives in the data
(masks resized bilinearly, flipped relative to their images) is found by `nr.audit`, the others
by `nr.check`; `Case.stage` says which. Data: small `shapes` images (16x16 or 24x24, four
classes) so that every check runs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import nnrecipe as nr
from nnrecipe.data.seg_builtin import make_shapes
from nnrecipe.tasks.segmentation import cross_entropy_dice, dice_loss


@dataclass(frozen=True)
class Case:
    name: str
    stage: str  # "check" or "audit"
    expect: str | None  # the root-cause code; None for a healthy setup
    build: Callable[[], dict[str, Any]]
    what: str = ""


# -- data -----------------------------------------------------------------------------------------
@cache
def shapes_arrays(size: int = 16, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_shapes(n, size=size, seed=1)
    x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3), keepdims=True)
    return x.astype(np.float32), y


@cache
def shapes(size: int = 16) -> nr.Data:
    """Small shapes images (3, size, size), standardised, masks of 4 classes."""
    x, y = shapes_arrays(size)
    return nr.Data.from_arrays(x, y, test=0.0, seed=0)


def _bilinear_masks() -> nr.Data:
    # Masks drawn at 24x24 and brought to 16x16 like images: bilinear, then rounded to ints.
    x, _ = shapes_arrays(16)
    _, y24 = shapes_arrays(24)
    y = F.interpolate(torch.from_numpy(y24)[:, None].float(), size=(16, 16), mode="bilinear")
    return nr.Data.from_arrays(x, y[:, 0].round().long().numpy(), test=0.0, seed=0)


@cache
def big_shapes() -> nr.Data:
    """24x24 images whose masks were drawn at 24x24 (for the bilinear case's healthy twin)."""
    x, y = shapes_arrays(24)
    return nr.Data.from_arrays(x, y, test=0.0, seed=0)


def _bilinear_case() -> nr.Data:
    # The same 24x24 images resized to 16x16 by the user: images bilinear (fine), masks bilinear
    # (the bug: class indices interpolated, rounded to the classes in between).
    x, y = shapes_arrays(24)
    xs = F.interpolate(torch.from_numpy(x), size=(16, 16), mode="bilinear", antialias=True)
    ys = F.interpolate(torch.from_numpy(y)[:, None].float(), size=(16, 16), mode="bilinear")
    return nr.Data.from_arrays(xs.numpy(), ys[:, 0].round().long().numpy(), test=0.0, seed=0)


def _flipped_masks() -> nr.Data:
    x, y = shapes_arrays(16)
    return nr.Data.from_arrays(x, y[:, :, ::-1].copy(), test=0.0, seed=0)  # masks mirrored


def _shuffled_masks() -> nr.Data:
    x, y = shapes_arrays(16)
    d = nr.Data.from_arrays(x, y, test=0.0, seed=0)
    perm = torch.randperm(len(d.train.y), generator=torch.Generator().manual_seed(0))
    d.train.y = d.train.y[perm]  # masks no longer belong to their images
    return d


def _masks_one_based() -> dict[str, Any]:
    # Classes stored 1..4 (background 1) while the model has 4 outputs for "4 classes".
    x, y = shapes_arrays(16)
    return {"model": SmallUNet(n_out=4), "data": nr.Data.from_arrays(x, y + 1, test=0.0, seed=0)}


# -- models ---------------------------------------------------------------------------------------
def _block(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=norm == "none")]
    if norm == "bn":
        layers.append(nn.BatchNorm2d(c_out))
    elif norm == "bn-batch-stats":
        layers.append(nn.BatchNorm2d(c_out, track_running_stats=False))
    elif norm == "gn":
        layers.append(nn.GroupNorm(4, c_out))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SmallUNet(nn.Module):
    """Two levels, skip connection, 1x1 head: (N, 3, H, W) -> (N, n_out, H, W)."""

    def __init__(self, n_out: int = 4, width: int = 8, norm: str = "bn") -> None:
        super().__init__()
        self.enc = nn.Sequential(_block(3, width, norm), _block(width, width, norm))
        self.mid = nn.Sequential(_block(width, 2 * width, norm), _block(2 * width, 2 * width, norm))
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec = nn.Sequential(_block(2 * width, width, norm), _block(width, width, norm))
        self.head = nn.Conv2d(width, n_out, 1)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        m = self.mid(F.max_pool2d(e, 2))
        return self.head(self.dec(torch.cat([self.up(m), e], 1)))


class SoftmaxUNet(SmallUNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(super().forward(x), dim=1)  # probabilities into cross-entropy


class CroppedUNet(SmallUNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[..., 2:-2, 2:-2]  # 'valid' borders dropped: 12x12 vs 16x16


def _builtin_unet(data: Callable[[], nr.Data], **options: Any) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        from nnrecipe.models import build_model

        d = data()
        torch.manual_seed(0)
        return {"model": build_model("unet", d, width=8, depth=2, **options), "data": d}

    return build


def seeded(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        torch.manual_seed(0)
        return fn()

    return build


CASES: list[Case] = [
    Case(
        "softmax-then-pixel-cross-entropy",
        "check",
        "output-is-probability",
        seeded(lambda: {"model": SoftmaxUNet(), "data": shapes()}),
        "softmax over the class channel in forward + cross-entropy",
    ),
    Case(
        "masks-resized-bilinear",
        "audit",
        "mask-interpolated",
        seeded(lambda: {"data": _bilinear_case()}),
        "24x24 masks resized to 16x16 with bilinear interpolation and rounded",
    ),
    Case(
        "masks-flipped",
        "audit",
        "mask-misaligned",
        seeded(lambda: {"data": _flipped_masks()}),
        "every mask mirrored left-right relative to its image",
    ),
    Case(
        "class-indices-off-by-one",
        "check",
        "shape-mismatch",
        seeded(_masks_one_based),
        "masks hold 1..4 (background 1) for a model with 4 outputs",
    ),
    Case(
        "output-cropped",
        "check",
        "shape-mismatch",
        seeded(lambda: {"model": CroppedUNet(), "data": shapes()}),
        "the model drops a 2-pixel border: 12x12 outputs for 16x16 masks",
    ),
    Case(
        "batchnorm-batch-stats-at-eval",
        "check",
        "batch-dependency",
        seeded(lambda: {"model": SmallUNet(norm="bn-batch-stats"), "data": shapes()}),
        "BatchNorm2d(track_running_stats=False): batch statistics at eval",
    ),
    Case(
        "masks-shuffled",
        "check",
        "input-ignored",
        seeded(lambda: {"model": SmallUNet(), "data": _shuffled_masks()}),
        "training masks permuted against their images",
    ),
]

HEALTHY: list[Case] = [
    Case("builtin-unet-shapes", "check", None, _builtin_unet(shapes)),
    Case(
        "small-unet-ce-dice",
        "check",
        None,
        seeded(lambda: {"model": SmallUNet(), "data": shapes(), "loss": cross_entropy_dice}),
    ),
    Case(
        "small-unet-dice-loss",
        "check",
        None,
        seeded(lambda: {"model": SmallUNet(), "data": shapes(), "loss": dice_loss}),
    ),
    Case("audit-shapes", "audit", None, seeded(lambda: {"data": shapes()})),
    Case("audit-shapes-24", "audit", None, seeded(lambda: {"data": big_shapes()})),
]
