"""Built-in models, chosen by modality when the user gives none.

Each ends in a `Head`: a linear layer with small weights and its bias set from the class prior
(log prior) or the target mean, so the loss at init is what it should be (log C for balanced
classes, the target variance for MSE), and for regression an output scale of the target's std.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nnrecipe.tasks import Task


class Head(nn.Module):
    """Final linear layer, initialised so the model starts by predicting the prior / mean.

    ``out = (W x + b) * scale + shift`` where `scale` and `shift` are buffers (the target std and
    mean for regression, 1 and 0 otherwise) and `b` starts at log(prior) for classification.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("scale", torch.ones(out_features))
        self.register_buffer("shift", torch.zeros(out_features))
        # Small last-layer weights: the outputs at init are dominated by the bias.
        nn.init.normal_(self.linear.weight, std=0.01 / math.sqrt(in_features))
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x) * self.scale + self.shift

    @torch.no_grad()
    def init_from(self, task: Task, y_train: Tensor) -> None:
        init = task.init_output(y_train)
        if "scale" in init:  # regression: predict the mean, scaled by the std
            self.scale.copy_(init["scale"].reshape(-1))
            self.shift.copy_(init["bias"].reshape(-1))
        elif "bias" in init:
            self.linear.bias.copy_(init["bias"].reshape(-1))


class Linear(nn.Module):
    """Logistic / linear regression on the flattened input."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.head = Head(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x.flatten(1))


class MLP(nn.Module):
    """Multi-layer perceptron: [Linear → BatchNorm → ReLU → Dropout] × depth → Head."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        width: int = 256,
        depth: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = Head(d, out_features)
        for m in self.body:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x.flatten(1)))


def _conv_bn(
    conv: type[nn.Module], bn: type[nn.Module], c_in: int, c_out: int, k: int, stride: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        conv(c_in, c_out, k, stride=stride, padding=k // 2, bias=False), bn(c_out), nn.ReLU()
    )


class ResBlock(nn.Module):
    """Two conv-BN layers with an identity (or 1x1) shortcut; `dims` is 1 or 2."""

    def __init__(
        self, c_in: int, c_out: int, *, dims: int, stride: int = 1, kernel: int = 3
    ) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.conv1 = nn.Sequential(
            conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            bn(c_out),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            conv(c_out, c_out, kernel, padding=kernel // 2, bias=False), bn(c_out)
        )
        # Zero-init the last BN's scale: each block starts as the identity (Goyal et al. 2017).
        nn.init.zeros_(self.conv2[1].weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                conv(c_in, c_out, 1, stride=stride, bias=False), bn(c_out)
            )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class CNN(nn.Module):
    """Small residual CNN for 1-D signals (`dims=1`) or images (`dims=2`):
    stem conv → residual stages (stride 2 between them) → global average pool → dropout → Head.

    ``spatial_dropout`` > 0 adds Dropout1d / Dropout2d after each residual stage: it drops whole
    channels, which regularizes conv nets better than element dropout (neighbouring activations
    are correlated, so dropping single ones removes little information)."""

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        *,
        dims: int,
        width: int = 32,
        depth: int = 2,
        dropout: float = 0.1,
        kernel: int = 3,
        spatial_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.stem = _conv_bn(conv, bn, in_channels, width, kernel)
        blocks: list[nn.Module] = []
        c = width
        for i in range(depth):
            c_out = width * 2**i
            blocks.append(ResBlock(c, c_out, dims=dims, stride=1 if i == 0 else 2, kernel=kernel))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        # No parameters, so checkpoints are alike with or without it; None when off, so runs
        # without it draw no extra random numbers.
        spatial = nn.Dropout1d if dims == 1 else nn.Dropout2d
        self.spatial = spatial(spatial_dropout) if spatial_dropout > 0 else None
        self.head = Head(c, out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
            if self.spatial is not None:
                h = self.spatial(h)
        return self.head(self.drop(self.pool(h).flatten(1)))
