"""Models of the bug zoo: plain PyTorch, written the way users write them (bugs included)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(
    d_in: int,
    d_out: int,
    *,
    width: int = 64,
    depth: int = 2,
    act: type[nn.Module] = nn.ReLU,
    norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers.append(nn.Linear(d, width))
        if norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(act())
        if dropout:
            layers.append(nn.Dropout(dropout))
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class Flat(nn.Module):
    """An MLP on flattened inputs (images/signals as tables)."""

    def __init__(self, d_in: int, d_out: int, **kw: object) -> None:
        super().__init__()
        self.net = mlp(d_in, d_out, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class CNN2d(nn.Module):
    """conv-BN-ReLU x2, pool, linear: a typical small image classifier."""

    def __init__(
        self, c_in: int = 1, n_out: int = 10, width: int = 16, bn: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(c_in, width, 3, padding=1),
            norm(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            norm(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(8 * width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x).flatten(1)))


class CNN1d(nn.Module):
    """conv-norm-ReLU x3 with pooling, then linear: a small signal classifier."""

    def __init__(
        self, c_in: int = 1, n_out: int = 10, width: int = 16, length: int = 40, norm: str = "bn"
    ) -> None:
        super().__init__()

        def nrm(c: int) -> nn.Module:
            return {"bn": nn.BatchNorm1d(c), "gn": nn.GroupNorm(4, c), "none": nn.Identity()}[norm]

        self.conv1 = nn.Sequential(nn.Conv1d(c_in, width, 5, padding=2), nrm(width), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nrm(width), nn.ReLU())
        self.conv3 = nn.Sequential(
            nn.Conv1d(width, 2 * width, 3, padding=1, stride=2), nrm(2 * width), nn.ReLU()
        )
        self.head = nn.Linear(2 * width * (length // 2), n_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


# -- planted bugs ---------------------------------------------------------------------------------
class SoftmaxMLP(nn.Module):
    """Returns probabilities: softmax at the end of forward."""

    def __init__(self, d_in: int, n_out: int) -> None:
        super().__init__()
        self.net = mlp(d_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(x.flatten(1)), dim=1)


class SigmoidCNN1d(CNN1d):
    """Binary classifier returning sigmoid probabilities, one output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(x)).squeeze(-1)


class ProbCNN2d(CNN2d):
    """Returns softmax probabilities (used with NLLLoss, which wants log-probabilities)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).softmax(-1)


class BatchCentredCNN2d(CNN2d):
    """'Normalises' each batch by its own mean: outputs depend on the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x - x.mean(0, keepdim=True))


class MixingCNN1d(CNN1d):
    """Flattens with the batch and channel axes swapped: samples mix."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, C, L)
        return self.head(h.permute(1, 0, 2).reshape(x.shape[0], -1))


class DetachedCNN2d(CNN2d):
    """Features detached before the head: the convolutions never learn."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1).detach())


class UnusedLayerCNN1d(CNN1d):
    """conv2 is defined (and counted) but forward skips it."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv1(x))


class TanhLogits(nn.Module):
    """Squashes the logits with tanh: confident predictions are impossible."""

    def __init__(self, d_in: int, n_out: int) -> None:
        super().__init__()
        self.net = mlp(d_in, n_out, width=128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x.flatten(1)))


class SigmoidRegressor1d(CNN1d):
    """A regressor whose output goes through a sigmoid, for standardised (signed) targets."""

    def __init__(self, **kw: object) -> None:
        super().__init__(n_out=1, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(x)).squeeze(-1)


class MaskedCNN2d(CNN2d):
    """Multiplies the input by a 'mask' buffer that was left at zeros."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.register_buffer("mask", torch.zeros(1, 1, 8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x * self.mask)


class SqrtInputCNN2d(CNN2d):
    """'Compresses the dynamic range' of standardised (partly negative) inputs with sqrt: NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.sqrt(x))


class SharedConv1d(nn.Module):
    """One convolution applied `repeats` times (an unrolled recurrence), gain `gain`."""

    def __init__(
        self, repeats: int = 12, gain: float = 1.0, act: str = "relu", width: int = 16
    ) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, width, 3, padding=1)
        self.conv = nn.Conv1d(width, width, 3, padding=1)
        self.repeats = repeats
        self.act = act
        with torch.no_grad():
            self.conv.weight.normal_(0, gain / (3 * width) ** 0.5)
            self.conv.bias.zero_()
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for _ in range(self.repeats):
            h = torch.tanh(self.conv(h)) if self.act == "tanh" else F.relu(self.conv(h))
        return self.head(h.mean(-1))


def deep_mlp(
    d_in: int,
    d_out: int,
    *,
    depth: int,
    width: int = 64,
    act: type[nn.Module] = nn.ReLU,
    std_gain: float | None = None,
) -> nn.Sequential:
    """A plain deep MLP (no normalisation); `std_gain` sets weights ~ N(0, gain^2 / fan_in)."""
    net = mlp(d_in, d_out, width=width, depth=depth, act=act)
    if std_gain is not None:
        for m in net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=std_gain / m.in_features**0.5)
                nn.init.zeros_(m.bias)
    return net
