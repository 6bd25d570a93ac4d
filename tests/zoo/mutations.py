"""The mutation zoo: mutation operators (DeepCrime, ISSTA'21; DeepMutation) applied to healthy
setups, each mutant verified to manifest in a short plain-PyTorch training run before it counts.

A `Setup` is a healthy model + data + optimizer that must train well (`verify`); an `Operator`
turns a setup's ``nr.check`` arguments into a mutant. Operators act on any module, not on one
model's source: they rewrite layers (bias removed, weights rescaled, a layer detached or kept in
a plain Python list), wrap the output (softmax, sigmoid), change the data (labels shuffled or
permuted, inputs rescaled) or the optimizer (learning rate, weight decay), and misuse
BatchNorm and dropout.

    mutants()        every (setup, operator) pair that applies, in a fixed order
    verify(case)     train the case in plain PyTorch; its held-out metric
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import nnrecipe as nr
from zoo import data as D
from zoo import models as M

# -- healthy setups -------------------------------------------------------------------------------


class ResNet2d(nn.Module):
    """A small residual CNN: stem, two residual blocks (conv-BN-ReLU-conv-BN + skip), pool."""

    def __init__(self, c_in: int = 1, n_out: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(width, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.BatchNorm2d(width),
            )
            for _ in range(2)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for b in self.blocks:
            h = F.relu(h + b(h))
        return self.head(self.pool(h).flatten(1))


class GRUNet(nn.Module):
    """A GRU over the time axis of (B, 1, L) signals, its last hidden state to a linear head."""

    def __init__(self, n_out: int = 1, hidden: int = 32) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x.transpose(1, 2))  # (B, 1, L) -> (B, L, 1) -> (B, L, H)
        return self.head(out[:, -1])


class Squeeze(nn.Module):
    """(N, 1) regression outputs -> (N,) to match (N,) targets."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).squeeze(-1)


@dataclass(frozen=True)
class Setup:
    name: str
    family: str  # "mlp", "cnn1d", "cnn2d", "resnet", "rnn"
    regression: bool
    data: Callable[[], nr.Data]
    model: Callable[[], nn.Module]
    lr: float = 1e-3
    epochs: int = 8


def _no_bias_head(model: nn.Module) -> nn.Module:
    model.head = nn.Linear(model.head.in_features, model.head.out_features, bias=False)
    return model


SETUPS: list[Setup] = [
    Setup("mlp-breast-cancer", "mlp", False, D.breast_cancer, lambda: M.mlp(30, 2)),
    Setup(
        "mlp-bn-digits", "mlp", False, D.digits_tabular, lambda: M.mlp(64, 10, norm=True, depth=3)
    ),
    Setup("cnn2d-digits", "cnn2d", False, D.digits, lambda: M.CNN2d()),
    Setup("resnet-digits", "resnet", False, D.digits, lambda: ResNet2d()),
    Setup("cnn1d-mnist1d", "cnn1d", False, D.mnist1d, lambda: M.CNN1d(), epochs=6),
    Setup(
        "cnn1d-waves-nobias",
        "cnn1d",
        True,
        D.waves,
        lambda: Squeeze(_no_bias_head(M.CNN1d(n_out=1))),
        epochs=6,
    ),
    Setup("gru-waves", "rnn", True, D.waves, lambda: Squeeze(GRUNet()), lr=3e-3, epochs=6),
]


# -- what a case is -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    setup: Setup
    operator: str | None  # None: the healthy setup itself
    expect: frozenset[str]  # root-cause codes that name this bug; empty for healthy

    @property
    def name(self) -> str:
        return f"{self.setup.name}/{self.operator or 'healthy'}"

    def build(self) -> dict[str, Any]:
        """The arguments of ``nr.check`` (and of `verify`): model, data, optimizer, loss."""
        torch.manual_seed(0)
        s = self.setup
        kw: dict[str, Any] = {
            "model": s.model(),
            "data": s.data(),
            "optimizer": _adam(s.lr),
            "loss": None,
        }
        if self.operator is not None:
            OPERATORS[self.operator].apply(kw, s)
        return kw


def _adam(lr: float, wd: float = 0.0) -> Callable[[Any], torch.optim.Optimizer]:
    return lambda params: torch.optim.Adam(params, lr=lr, weight_decay=wd)


# -- operators ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Operator:
    name: str
    expect: frozenset[str]
    apply: Callable[[dict[str, Any], Setup], None]
    applies: Callable[[Setup, nn.Module], bool] = lambda s, m: True
    what: str = ""


class _Wrap(nn.Module):
    def __init__(self, inner: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.inner(x))


class _Detached(nn.Module):
    """A layer whose output is detached: it and everything before it never learn."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any) -> Any:
        out = self.inner(*args)
        if isinstance(out, tuple):
            return tuple(o.detach() for o in out)
        return out.detach()


class _Unregistered(nn.Module):
    """A layer kept in a plain Python list: used in forward, absent from model.parameters()."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.layers = [inner]  # a list, not an nn.ModuleList: the classic bug

    def forward(self, *args: Any) -> Any:
        return self.layers[0](*args)


class _EvalDropout(nn.Module):
    """F.dropout without training=self.training: active at eval too."""

    def __init__(self, inner: nn.Module, p: float = 0.5) -> None:
        super().__init__()
        self.inner = inner
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(F.dropout(x, self.p))


def _layers(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, layer) for every Linear/Conv/RNN layer, in definition order."""
    out = []
    for full, layer in model.named_modules():
        if isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d | nn.RNNBase):
            parent_name, _, name = full.rpartition(".")
            out.append((model.get_submodule(parent_name), name, layer))
    return out


def _replace(parent: nn.Module, name: str, new: nn.Module) -> None:
    if isinstance(parent, nn.Sequential | nn.ModuleList):
        parent[int(name)] = new
    else:
        setattr(parent, name, new)


def _has(kind: type) -> Callable[[Setup, nn.Module], bool]:
    return lambda s, m: any(isinstance(x, kind) for x in m.modules())


def _classification(s: Setup, m: nn.Module) -> bool:
    return not s.regression


def _op_softmax(kw: dict[str, Any], s: Setup) -> None:
    kw["model"] = _Wrap(kw["model"], lambda o: o.softmax(-1))


def _op_sigmoid(kw: dict[str, Any], s: Setup) -> None:
    kw["model"] = _Wrap(kw["model"], torch.sigmoid)


def _op_nll_probs(kw: dict[str, Any], s: Setup) -> None:
    kw["model"] = _Wrap(kw["model"], lambda o: o.softmax(-1))
    kw["loss"] = nn.NLLLoss()


def _op_no_bias(kw: dict[str, Any], s: Setup) -> None:
    for _, _, layer in _layers(kw["model"]):
        if isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d) and layer.bias is not None:
            layer.bias = None  # the layer as built with bias=False


def _scale_init(k: float) -> Callable[[dict[str, Any], Setup], None]:
    def apply(kw: dict[str, Any], s: Setup) -> None:
        with torch.no_grad():
            for _, _, layer in _layers(kw["model"]):
                for pname, p in layer.named_parameters(recurse=False):
                    if "weight" in pname:
                        p.mul_(k)

    return apply


def _op_frozen(kw: dict[str, Any], s: Setup) -> None:
    lr = s.lr

    # The optimizer is built over the last layer only: the rest is frozen by mistake.
    def factory(params: Any) -> torch.optim.Optimizer:
        params = list(params)
        return torch.optim.Adam(params[-2:], lr=lr)

    kw["optimizer"] = factory


def _op_detach(kw: dict[str, Any], s: Setup) -> None:
    # The last hidden layer's output is detached: nothing before the head learns.
    parent, name, layer = _layers(kw["model"])[-2]
    _replace(parent, name, _Detached(layer))


def _op_unregistered(kw: dict[str, Any], s: Setup) -> None:
    # The hidden layers are kept in plain Python lists: only the head is registered and trained.
    for parent, name, layer in _layers(kw["model"])[:-1]:
        _replace(parent, name, _Unregistered(layer))


def _op_label_shuffle(kw: dict[str, Any], s: Setup) -> None:
    kw["data"] = D.shuffled_labels(kw["data"])


def _op_label_permute(kw: dict[str, Any], s: Setup) -> None:
    d = kw["data"]
    y = d.train.y
    k = int(y.max()) + 1
    kw["data"] = (d.train.x, (y + 1) % k, d.valid.x, d.valid.y)  # every class renamed


def _scale_inputs(k: float) -> Callable[[dict[str, Any], Setup], None]:
    def apply(kw: dict[str, Any], s: Setup) -> None:
        d = kw["data"]
        kw["data"] = (d.train.x * k, d.train.y, d.valid.x * k, d.valid.y)

    return apply


def _lr(k: float) -> Callable[[dict[str, Any], Setup], None]:
    def apply(kw: dict[str, Any], s: Setup) -> None:
        kw["optimizer"] = _adam(s.lr * k)

    return apply


def _op_weight_decay(kw: dict[str, Any], s: Setup) -> None:
    lr = s.lr
    kw["optimizer"] = lambda p: torch.optim.AdamW(p, lr=lr, weight_decay=1e3)


def _op_bn_momentum_0(kw: dict[str, Any], s: Setup) -> None:
    for m in kw["model"].modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.0  # running statistics never move from (0, 1)


def _op_bn_no_running_stats(kw: dict[str, Any], s: Setup) -> None:
    for m in kw["model"].modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None


def _op_eval_dropout(kw: dict[str, Any], s: Setup) -> None:
    # F.dropout(x, 0.5) (training defaults to True) before every layer but the first.
    for parent, name, layer in _layers(kw["model"])[1:]:
        _replace(parent, name, _EvalDropout(layer))


def _op(name: str, expect: str | tuple[str, ...], apply: Any, applies: Any = None) -> Operator:
    codes = frozenset((expect,) if isinstance(expect, str) else expect)
    return Operator(name, codes, apply, applies or (lambda s, m: True))


INIT_CODES = (
    "loss-at-init",
    "vanishing-gradients",
    "exploding-gradients",
    "dead-units",
    "non-finite",
)

OPERATORS: dict[str, Operator] = {
    o.name: o
    for o in (
        _op("output-softmax", "output-is-probability", _op_softmax, _classification),
        _op(
            "output-sigmoid",
            ("output-is-probability", "cannot-overfit-batch"),
            _op_sigmoid,
        ),
        _op(
            "softmax-nll", ("output-is-probability", "loss-at-init"), _op_nll_probs, _classification
        ),
        _op("no-bias", ("loss-at-init", "cannot-overfit-batch", "dead-units"), _op_no_bias),
        # A changed init scale is named by the codes about the init: outputs far from the prior,
        # gradients vanishing or exploding across layers (with BatchNorm, weights x0.01 make the
        # gradients x100), units dead from the start, NaN.
        _op("init-x10", INIT_CODES, _scale_init(10.0)),
        _op("init-x0.01", INIT_CODES, _scale_init(0.01)),
        _op("frozen-layers", "params-not-updated", _op_frozen),
        _op("detached-layer", "params-not-updated", _op_detach),
        _op("unregistered-layer", "unregistered-params", _op_unregistered),
        _op("label-shuffle", "input-ignored", _op_label_shuffle),
        _op("label-permute", "input-ignored", _op_label_permute, _classification),
        _op("inputs-x255", "input-scale", _scale_inputs(255.0)),
        _op("inputs-x0.001", "input-scale", _scale_inputs(1e-3)),
        _op("lr-x1000", "lr-too-high", _lr(1000.0)),
        _op("lr-x1e-4", "lr-too-low", _lr(1e-4)),
        _op("weight-decay-1e3", "weight-decay-too-high", _op_weight_decay),
        _op(
            "bn-momentum-0",
            "train-eval-mismatch",
            _op_bn_momentum_0,
            _has(nn.modules.batchnorm._BatchNorm),
        ),
        _op(
            "bn-no-running-stats",
            "batch-dependency",
            _op_bn_no_running_stats,
            _has(nn.modules.batchnorm._BatchNorm),
        ),
        _op("dropout-at-eval", "random-eval-outputs", _op_eval_dropout),
    )
}


def mutants() -> list[Mutant]:
    """Every healthy setup, then every operator that applies to it, in a fixed order."""
    out = []
    for s in SETUPS:
        out.append(Mutant(s, None, frozenset()))
        model = s.model()
        for op in OPERATORS.values():
            if op.applies(s, model):
                out.append(Mutant(s, op.name, op.expect))
    return out


# -- verification: a short plain-PyTorch training run ---------------------------------------------
# A mutant counts when its held-out metric (accuracy; R^2 for regression), trained exactly as
# the healthy setup is (Adam, batches of 64, the setup's epochs, eval mode for scoring in
# batches of 64), is at least MANIFEST_DROP below the healthy setup's, or the run went
# non-finite. A healthy setup must reach HEALTHY_MIN.
MANIFEST_DROP = 0.1
HEALTHY_MIN = 0.75


def _arrays(data: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(data, tuple):
        return data
    return data.train.x, data.train.y, data.valid.x, data.valid.y


def verify(case: Mutant, *, seed: int = 0) -> float:
    """Train `case` in plain PyTorch and return its held-out metric (nan when it diverged)."""
    kw = case.build()
    model = copy.deepcopy(kw["model"])
    x, y, xv, yv = _arrays(kw["data"])
    regression = case.setup.regression
    loss_fn = kw["loss"] or (nn.MSELoss() if regression else nn.CrossEntropyLoss())
    opt = kw["optimizer"](model.parameters())
    g = torch.Generator().manual_seed(seed)
    for _ in range(case.setup.epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            if len(idx) < 2:
                continue
            loss = loss_fn(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                return math.nan
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(xv[i : i + 64]) for i in range(0, len(xv), 64)])
    if not bool(torch.isfinite(out).all()):
        return math.nan
    if regression:
        yv = yv.float().reshape(out.shape)
        return float(1 - (out - yv).pow(2).mean() / yv.var(unbiased=False))
    return float((out.argmax(-1) == yv).float().mean())


def manifests(metric: float, healthy: float) -> bool:
    return not math.isfinite(metric) or metric <= healthy - MANIFEST_DROP
