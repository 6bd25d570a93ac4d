"""The bug zoo: planted bugs (each with the code that names its root cause) and healthy setups.

Each case builds ``dict(model=..., data=..., loss=..., optimizer=..., task=...)`` for
``nr.check(**case)``. Families: tabular MLPs, 2-D CNNs (digits 8x8), 1-D CNNs (MNIST-1D, waves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo import data as D
from zoo import models as M


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # "tabular", "cnn2d", "cnn1d"
    expect: str | None  # the root-cause code; None for a healthy setup
    build: Callable[[], dict[str, Any]]
    what: str = ""


def adam(lr: float, wd: float = 0.0) -> Callable[[Any], torch.optim.Optimizer]:
    return lambda params: torch.optim.Adam(params, lr=lr, weight_decay=wd)


def sgd(lr: float, momentum: float = 0.9) -> Callable[[Any], torch.optim.Optimizer]:
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum)


def seeded(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        torch.manual_seed(0)
        return fn()

    return build


# -- planted bugs -------------------------------------------------------------------------------
def _broadcast_mse() -> dict[str, Any]:
    return {"model": M.mlp(10, 1), "data": D.diabetes(), "loss": F.mse_loss}


def _too_few_classes() -> dict[str, Any]:
    return {"model": M.CNN2d(n_out=8), "data": D.digits()}


def _broadcast_l1_1d() -> dict[str, Any]:
    d = D.waves()
    data = (d.train.x, d.train.y[:, None], d.valid.x, d.valid.y[:, None])
    return {"model": M.CNN1d(n_out=1), "data": data, "loss": _l1_flat}


def _l1_flat(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.squeeze(-1) - y).abs().mean()  # (N,) - (N, 1) -> (N, N)


def _big_last_layer() -> dict[str, Any]:
    model = M.mlp(64, 10)
    with torch.no_grad():
        model[-1].weight.mul_(20)
    return {"model": model, "data": D.digits_tabular()}


class _Temperature(M.CNN2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) / 0.05  # "temperature" applied the wrong way round


def _regression_bias() -> dict[str, Any]:
    model = M.CNN1d(n_out=1)
    with torch.no_grad():
        model.head.bias.fill_(4.0)
    return {"model": _Squeeze(model), "data": D.waves()}


class _Squeeze(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).squeeze(-1)


def _head_only_optimizer() -> dict[str, Any]:
    model = M.mlp(30, 2)
    # The factory ignores the parameters it is given and trains only the last layer.
    return {
        "model": model,
        "data": D.breast_cancer(),
        "optimizer": lambda params: torch.optim.Adam(model[-1].parameters(), lr=1e-3),
    }


def _lr_zero_group() -> dict[str, Any]:
    model = M.mlp(64, 10)

    def factory(params: Any) -> torch.optim.Optimizer:
        params = list(params)
        return torch.optim.Adam(
            [{"params": params[:2], "lr": 0.0}, {"params": params[2:]}], lr=1e-3
        )

    return {"model": model, "data": D.digits_tabular(), "optimizer": factory}


def _dead_bias() -> dict[str, Any]:
    model = M.mlp(64, 10, width=128)
    with torch.no_grad():
        model[0].bias.fill_(-12.0)
    return {"model": model, "data": D.digits_tabular()}


class _BadBN(M.CNN2d):
    def __init__(self) -> None:
        super().__init__()
        for m in self.features:
            if isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.bias, -5.0)  # beta = -5: every ReLU input ~ N(-5, 1)


def _squashed_sigmoid_init() -> dict[str, Any]:
    return {"model": M.SigmoidRegressor1d(), "data": D.waves()}


CASES: list[Case] = [
    # shape-mismatch
    Case(
        "mse-broadcast-N1-vs-N",
        "tabular",
        "shape-mismatch",
        seeded(_broadcast_mse),
        "MLP regressor outputs (N,1), F.mse_loss against (N,) targets broadcasts to (N,N)",
    ),
    Case(
        "too-few-class-outputs",
        "cnn2d",
        "shape-mismatch",
        seeded(_too_few_classes),
        "CNN with 8 outputs for 10 digit classes (cross-entropy crashes on label 9)",
    ),
    Case(
        "l1-broadcast-squeezed-vs-N1",
        "cnn1d",
        "shape-mismatch",
        seeded(_broadcast_l1_1d),
        "custom L1 loss squeezes (N,1) outputs against (N,1) targets: (N,) - (N,1)",
    ),
    Case(
        "bce-one-logit-vs-two-dims",
        "cnn1d",
        "shape-mismatch",
        seeded(
            lambda: {
                "model": M.CNN1d(n_out=1),
                "data": D.mnist1d_binary(),
                "loss": nn.BCEWithLogitsLoss(),
            }
        ),
        "one logit of shape (N,1) against (N,) float targets in BCEWithLogitsLoss",
    ),
    # loss-at-init
    Case(
        "last-layer-x20",
        "tabular",
        "loss-at-init",
        seeded(_big_last_layer),
        "last Linear weights multiplied by 20 after init",
    ),
    Case(
        "temperature-wrong-way",
        "cnn2d",
        "loss-at-init",
        seeded(lambda: {"model": _Temperature(), "data": D.digits()}),
        "logits divided by a temperature of 0.05",
    ),
    Case(
        "regression-bias-4",
        "cnn1d",
        "loss-at-init",
        seeded(_regression_bias),
        "regressor's last bias set to 4 for standardised targets",
    ),
    # output-is-probability
    Case(
        "softmax-then-cross-entropy",
        "tabular",
        "output-is-probability",
        seeded(lambda: {"model": M.SoftmaxMLP(13, 3), "data": D.wine()}),
        "softmax in forward + CrossEntropyLoss",
    ),
    Case(
        "sigmoid-then-bce-with-logits",
        "cnn1d",
        "output-is-probability",
        seeded(
            lambda: {
                "model": M.SigmoidCNN1d(n_out=1),
                "data": D.mnist1d_binary(),
                "loss": nn.BCEWithLogitsLoss(),
            }
        ),
        "sigmoid output + BCEWithLogitsLoss",
    ),
    Case(
        "softmax-then-nll",
        "cnn2d",
        "output-is-probability",
        seeded(lambda: {"model": M.ProbCNN2d(), "data": D.digits(), "loss": F.nll_loss}),
        "softmax probabilities into NLLLoss (wants log-probabilities)",
    ),
    # batch-dependency
    Case(
        "batchnorm-no-running-stats",
        "tabular",
        "batch-dependency",
        seeded(
            lambda: {
                "model": nn.Sequential(
                    nn.Linear(64, 64),
                    nn.BatchNorm1d(64, track_running_stats=False),
                    nn.ReLU(),
                    nn.Linear(64, 10),
                ),
                "data": D.digits_tabular(),
            }
        ),
        "BatchNorm1d(track_running_stats=False) uses batch statistics at eval",
    ),
    Case(
        "batch-mean-centering",
        "cnn2d",
        "batch-dependency",
        seeded(lambda: {"model": M.BatchCentredCNN2d(), "data": D.digits()}),
        "x - x.mean(0) in forward",
    ),
    Case(
        "reshape-mixes-batch",
        "cnn1d",
        "batch-dependency",
        seeded(lambda: {"model": M.MixingCNN1d(), "data": D.mnist1d()}),
        "permute(1,0,2).reshape(B,-1)",
    ),
    # params-not-updated
    Case(
        "optimizer-only-head",
        "tabular",
        "params-not-updated",
        seeded(_head_only_optimizer),
        "optimizer factory ignores params and holds only the last layer",
    ),
    Case(
        "detached-features",
        "cnn2d",
        "params-not-updated",
        seeded(lambda: {"model": M.DetachedCNN2d(), "data": D.digits()}),
        ".detach() before the head",
    ),
    Case(
        "unused-conv",
        "cnn1d",
        "params-not-updated",
        seeded(lambda: {"model": M.UnusedLayerCNN1d(), "data": D.mnist1d()}),
        "conv2 defined, skipped in forward",
    ),
    Case(
        "lr-zero-group",
        "tabular",
        "params-not-updated",
        seeded(_lr_zero_group),
        "first layer in a parameter group with lr=0",
    ),
    # cannot-overfit-batch
    Case(
        "tanh-on-logits",
        "tabular",
        "cannot-overfit-batch",
        seeded(lambda: {"model": M.TanhLogits(64, 10), "data": D.digits_tabular()}),
        "logits squashed to [-1, 1]",
    ),
    Case(
        "sigmoid-regressor",
        "cnn1d",
        "cannot-overfit-batch",
        seeded(_squashed_sigmoid_init),
        "regressor output through sigmoid, targets standardised (signed)",
    ),
    # input-ignored
    Case(
        "shuffled-labels",
        "tabular",
        "input-ignored",
        seeded(lambda: {"model": M.mlp(30, 2), "data": D.shuffled_labels(D.breast_cancer())}),
        "training labels permuted",
    ),
    Case(
        "zero-mask-input",
        "cnn2d",
        "input-ignored",
        seeded(lambda: {"model": M.MaskedCNN2d(), "data": D.digits()}),
        "input multiplied by a zero buffer",
    ),
    Case(
        "labels-off-by-one",
        "cnn1d",
        "input-ignored",
        seeded(lambda: {"model": M.CNN1d(), "data": D.rolled_labels(D.mnist1d())}),
        "labels rolled by one",
    ),
    # dead-units
    Case(
        "bias-minus-12",
        "tabular",
        "dead-units",
        seeded(_dead_bias),
        "first-layer bias initialised to -12",
    ),
    Case(
        "batchnorm-beta-minus-5",
        "cnn2d",
        "dead-units",
        seeded(lambda: {"model": _BadBN(), "data": D.digits()}),
        "BatchNorm beta initialised to -5",
    ),
    # vanishing / exploding gradients
    Case(
        "deep-sigmoid-mlp",
        "tabular",
        "vanishing-gradients",
        seeded(
            lambda: {
                "model": M.deep_mlp(64, 10, depth=12, act=nn.Sigmoid),
                "data": D.digits_tabular(),
            }
        ),
        "12 sigmoid layers, default init",
    ),
    Case(
        "shared-tanh-conv-small",
        "cnn1d",
        "vanishing-gradients",
        seeded(
            lambda: {"model": M.SharedConv1d(repeats=16, gain=0.5, act="tanh"), "data": D.mnist1d()}
        ),
        "one tanh conv applied 16 times with gain 0.5",
    ),
    Case(
        "deep-relu-mlp-gain-2.5",
        "tabular",
        "exploding-gradients",
        seeded(
            lambda: {
                "model": M.deep_mlp(64, 10, depth=12, std_gain=2.5),
                "data": D.digits_tabular(),
            }
        ),
        "12 ReLU layers initialised with std 2.5/sqrt(fan_in)",
    ),
    Case(
        "shared-relu-conv-gain-2",
        "cnn1d",
        "exploding-gradients",
        seeded(lambda: {"model": M.SharedConv1d(repeats=12, gain=2.0), "data": D.mnist1d()}),
        "one ReLU conv applied 12 times with gain 2",
    ),
    # learning rate
    Case(
        "adam-lr-1",
        "tabular",
        "lr-too-high",
        seeded(
            lambda: {"model": M.mlp(64, 10), "data": D.digits_tabular(), "optimizer": adam(1.0)}
        ),
        "Adam lr=1",
    ),
    Case(
        "sgd-lr-20",
        "cnn2d",
        "lr-too-high",
        seeded(lambda: {"model": M.CNN2d(), "data": D.digits(), "optimizer": sgd(20.0)}),
        "SGD lr=20",
    ),
    Case(
        "adam-lr-1e-7",
        "tabular",
        "lr-too-low",
        seeded(lambda: {"model": M.mlp(30, 2), "data": D.breast_cancer(), "optimizer": adam(1e-7)}),
        "Adam lr=1e-7",
    ),
    Case(
        "sgd-lr-1e-6",
        "cnn1d",
        "lr-too-low",
        seeded(lambda: {"model": M.CNN1d(), "data": D.mnist1d(), "optimizer": sgd(1e-6)}),
        "SGD lr=1e-6",
    ),
    # input-scale / target-scale
    Case(
        "raw-0-255-pixels",
        "cnn2d",
        "input-scale",
        seeded(lambda: {"model": M.CNN2d(bn=False), "data": D.digits_raw()}),
        "pixels 0-255, not normalised",
    ),
    Case(
        "raw-physical-units",
        "tabular",
        "input-scale",
        seeded(lambda: {"model": M.mlp(30, 2), "data": D.breast_cancer_raw()}),
        "features in the thousands",
    ),
    Case(
        "raw-regression-targets",
        "tabular",
        "target-scale",
        seeded(lambda: {"model": _Squeeze(M.mlp(10, 1)), "data": D.diabetes(False)}),
        "targets 25-346, plain MLP",
    ),
    Case(
        "targets-x1000",
        "cnn1d",
        "target-scale",
        seeded(lambda: {"model": _Squeeze(M.CNN1d(n_out=1)), "data": D.waves(1000.0)}),
        "targets in the thousands",
    ),
    # non-finite
    Case(
        "nan-in-inputs",
        "tabular",
        "non-finite",
        seeded(lambda: {"model": M.mlp(30, 2), "data": D.with_nan_inputs(D.breast_cancer())}),
        "5 NaN features",
    ),
    Case(
        "sqrt-of-standardised-inputs",
        "cnn2d",
        "non-finite",
        seeded(lambda: {"model": M.SqrtInputCNN2d(), "data": D.digits()}),
        "torch.sqrt(x) on standardised x",
    ),
]


# -- transfer learning (issue 12): a built-in model used as a pretrained body ---------------------
def _transfer(
    name: str, data: Callable[[], Any], *, lr: float = 3e-3, outputs: int | None = None
) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        import nnrecipe as nr
        from nnrecipe.models import build_model
        from nnrecipe.train.optim import adamw

        d = data()
        torch.manual_seed(0)
        model = build_model(name, d)
        nr.models.new_head(model, outputs or d.task.output_size(), source="zoo")
        return {"model": model, "data": d, "optimizer": adamw(lr)}

    return build


CASES += [
    Case(
        "pretrained-head-of-12-for-10-classes",
        "cnn2d",
        "head-size",
        _transfer("cnn2d", D.digits, outputs=12),
        "the source task's head kept: 12 outputs, 10 classes",
    ),
    Case(
        "pretrained-body-fed-raw-pixels",
        "cnn2d",
        "pretrained-input-scale",
        _transfer("cnn2d", D.digits_raw),
        "a pretrained body given 0-255 pixels",
    ),
    Case(
        "pretrained-body-at-lr-3",
        "tabular",
        "body-lr-too-high",
        _transfer("mlp", D.breast_cancer, lr=3.0),
        "the whole pretrained model trained at lr 3",
    ),
]


# -- healthy setups -------------------------------------------------------------------------------
def _builtin(name: str, data: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        from nnrecipe.models import build_model
        from nnrecipe.train.optim import adamw

        d = data()
        torch.manual_seed(0)
        return {"model": build_model(name, d), "data": d, "optimizer": adamw(3e-3, 1e-2)}

    return build


def _frozen_backbone() -> dict[str, Any]:
    model = M.CNN2d()
    for p in model.features.parameters():
        p.requires_grad_(False)  # a 'pretrained' backbone, frozen on purpose
    return {"model": model, "data": D.digits()}


class _BinaryMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = M.mlp(30, 1, norm=True, dropout=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _squeezed_regression() -> dict[str, Any]:
    return {
        "model": _Squeeze(M.mlp(10, 1, norm=True, dropout=0.1)),
        "data": D.diabetes(),
        "loss": F.mse_loss,
    }


HEALTHY: list[Case] = [
    Case("builtin-mlp-breast-cancer", "tabular", None, _builtin("mlp", D.breast_cancer)),
    Case("builtin-cnn2d-digits", "cnn2d", None, _builtin("cnn2d", D.digits)),
    Case("builtin-cnn1d-mnist1d", "cnn1d", None, _builtin("cnn1d", D.mnist1d)),
    Case(
        "mlp-batchnorm-dropout",
        "tabular",
        None,
        seeded(
            lambda: {
                "model": M.mlp(64, 10, norm=True, dropout=0.3),
                "data": D.digits_tabular(),
                "optimizer": adam(1e-3, 1e-4),
            }
        ),
    ),
    Case("cnn2d-frozen-backbone", "cnn2d", None, seeded(_frozen_backbone)),
    Case(
        "binary-one-logit-bce",
        "tabular",
        None,
        seeded(
            lambda: {
                "model": _BinaryMLP(),
                "data": D.breast_cancer_float(),
                "loss": nn.BCEWithLogitsLoss(),
            }
        ),
    ),
    Case("regression-squeezed-mse", "tabular", None, seeded(_squeezed_regression)),
    Case(
        "cnn1d-groupnorm-sgd",
        "cnn1d",
        None,
        seeded(lambda: {"model": M.CNN1d(norm="gn"), "data": D.mnist1d(), "optimizer": sgd(0.05)}),
    ),
    Case(
        "cnn2d-plain-dropout",
        "cnn2d",
        None,
        seeded(lambda: {"model": M.CNN2d(bn=False, dropout=0.3), "data": D.digits()}),
    ),
    Case(
        "cnn1d-regression-l1",
        "cnn1d",
        None,
        seeded(
            lambda: {
                "model": M.CNN1d(n_out=1),
                "data": (lambda d: (d.train.x, d.train.y[:, None], d.valid.x, d.valid.y[:, None]))(
                    D.waves()
                ),
                "loss": nn.L1Loss(),
            }
        ),
    ),
    Case(
        "wine-mlp-label-smoothing",
        "tabular",
        None,
        seeded(
            lambda: {
                "model": M.mlp(13, 3),
                "data": D.wine(),
                "loss": nn.CrossEntropyLoss(label_smoothing=0.1),
            }
        ),
    ),
]
