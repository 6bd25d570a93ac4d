"""The built-in `unet` for segmentation (Ronneberger et al. 2015, with BatchNorm).

Encoder: ``depth`` levels of two 3x3 conv-BN-ReLU layers, each followed by 2x2 max pooling
(channels ``width · 2^level``); a bottleneck; a decoder that upsamples (transposed 2x2 conv),
concatenates the encoder's features at the same resolution (the skip connection) and applies
two conv-BN-ReLU layers; a 1x1 conv head whose bias starts at log(pixel-class prior).

Any height and width work: the input is padded (reflection) to a multiple of ``2^depth`` and
the output cropped back, so the output's spatial size always equals the input's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvHead(nn.Module):
    """1x1 convolution to K logits per pixel, initialised to predict the pixel-class prior:
    small weights, bias = log(prior), so the loss at init is the prior's entropy."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, 1)
        nn.init.normal_(self.conv.weight, std=0.01 / math.sqrt(in_channels))
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)

    @torch.no_grad()
    def init_from(self, task: Any, y_train: Tensor) -> None:
        init = task.init_output(y_train)
        if "bias" in init:
            self.conv.bias.copy_(init["bias"].reshape(-1))


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder-decoder with skip connections: ``(N, C, H, W)`` → ``(N, K, H, W)`` logits.

    Args:
        in_channels: image channels C.
        num_classes: classes K (background included).
        width: channels at the first level (doubled at each level down).
        depth: number of 2x downsamplings (the bottleneck sees H / 2^depth).
        dropout: channel dropout (Dropout2d) in the bottleneck; 0 draws no random numbers.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: int = 16,
        depth: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"UNet needs depth >= 1 and width >= 1, got {depth=} {width=}.")
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for ch in chans[:-1]:
            self.down.append(_double_conv(c, ch))
            c = ch
        self.bottleneck = _double_conv(c, chans[-1])
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else None
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for level in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(chans[level + 1], chans[level], 2, stride=2))
            self.merge.append(_double_conv(2 * chans[level], chans[level]))
        self.head = ConvHead(chans[0], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m is not self.head.conv:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            # Reflection needs pad < size; tiny inputs fall back to replicate padding.
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        if self.drop is not None:
            x = self.drop(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :h, :w]
