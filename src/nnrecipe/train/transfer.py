"""Transfer learning for a `Learner`: layer groups, `freeze` / `unfreeze`, discriminative
learning rates (``lr=(lo, hi)``), ``lr="auto"`` and `fine_tune`.

Layer groups come from a ``splitter(model) -> [params of group 0, ..., params of the head]``,
else from the model's ``nnrecipe_groups`` (set by `nnrecipe.models.pretrained`), else the last
``nn.Linear`` (or `Head`) is the head and the rest is cut into two body groups.

BatchNorm in a frozen body: by default (``train_bn=True``, fastai's choice) the normalisation
layers of a frozen body stay trainable and keep updating their running statistics. The new data
rarely have the source's statistics (8x8 digits upsampled are not ImageNet photos); re-estimating
them is cheap and is most of what a frozen body can adapt, and frozen statistics from another
distribution make the head learn on shifted features. ``train_bn=False`` freezes their weights
and their running statistics too (momentum 0; batches are still normalised by their own
statistics in train mode, as any BatchNorm does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from nnrecipe.errors import ConfigError

NORM_LAYERS = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)
# fine_tune (fastai's): the head alone at base_lr, then everything at base_lr / 2 for the head
# down to base_lr / 2 / LR_MULT for the earliest group, evenly spaced on a log scale.
LR_MULT = 100.0
DEFAULT_BASE_LR = 2e-3  # fastai's fine_tune default when no lr is given or auto finds none

Splitter = Callable[[nn.Module], list[list[nn.Parameter]]]


# -- groups ---------------------------------------------------------------------------------------
def layer_groups(model: nn.Module, splitter: Splitter | None = None) -> list[list[nn.Parameter]]:
    """The model's parameters per layer group, earliest first, head last; every parameter in
    exactly one group."""
    if splitter is not None:
        groups = [list(g) for g in splitter(model)]
    else:
        names = getattr(model, "nnrecipe_groups", None)
        if not names:
            from nnrecipe.models.pretrained import head_of, split_groups

            names = split_groups(model, head_of(model))
        params = dict(model.named_parameters())
        groups = [[params[n] for n in g if n in params] for g in names]
    seen: set[int] = set()
    for g in groups:
        for p in g:
            if id(p) in seen:
                raise ConfigError(
                    "The splitter put a parameter in two groups: each must be in one."
                )
            seen.add(id(p))
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:  # parameters the splitter forgot train with the earliest group
        groups[0] = rest + groups[0]
    return [g for g in groups if g]


def group_lrs(lr: float | tuple[float, float] | list[float], n: int) -> list[float]:
    """One rate per group: a float for all; ``(lo, hi)``: lo for the earliest group, hi for the
    head, evenly spaced on a log scale between (fastai's ``slice(lo, hi)``)."""
    if isinstance(lr, int | float):
        return [float(lr)] * n
    lr = list(lr)
    if len(lr) == n:
        return [float(v) for v in lr]
    if len(lr) != 2:
        raise ConfigError(f"lr must be a number or (lo, hi), got {lr!r}.")
    lo, hi = float(lr[0]), float(lr[1])
    if not 0 < lo <= hi:
        raise ConfigError(f"lr=(lo, hi) needs 0 < lo <= hi, got ({lo:g}, {hi:g}).")
    if n == 1:
        return [hi]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def uses_groups(learner: Any) -> bool:
    """Grouped optimizer: the model is a body with a head, or the lr is a slice, or a splitter
    was given. Otherwise the Learner builds its optimizer exactly as before."""
    return (
        not isinstance(learner.lr, int | float)
        or getattr(learner, "_fine_tuning", False)
        or learner.splitter is not None
        or bool(getattr(learner.model, "nnrecipe_groups", None))
    )


def make_optimizer(learner: Any) -> torch.optim.Optimizer:
    """The Learner's optimizer (called once by ``Learner._setup``). With layer groups, every
    parameter is in it, frozen or not (a frozen one gets no gradient, so AdamW skips it), so
    the optimizer and its state survive freeze/unfreeze and resume; each layer group is split
    into decayed weights and undecayed biases / norm scales, tagged ``layer_group``."""
    from nnrecipe.train.optim import adamw, trainable

    if not uses_groups(learner):
        factory = learner.optimizer or adamw(learner.lr, learner.weight_decay)
        return factory(trainable(learner.model))
    groups = layer_groups(learner.model, learner.splitter)
    lrs = group_lrs(learner.lr, len(groups))
    wd = learner.weight_decay
    dicts = []
    for i, (g, lr) in enumerate(zip(groups, lrs, strict=True)):
        for decay, params in (
            (True, [p for p in g if p.ndim > 1]),
            (False, [p for p in g if p.ndim <= 1]),
        ):
            if params:
                dicts.append(
                    {
                        "params": params,
                        "lr": lr,
                        "weight_decay": wd if decay else 0.0,
                        "layer_group": i,
                    }
                )
    factory = learner.optimizer or adamw(max(lrs), wd)
    opt = factory(dicts)
    learner.n_groups = len(groups)
    return opt


def set_lrs(opt: torch.optim.Optimizer, lrs: list[float]) -> None:
    """Set each layer group's peak rate (what the schedule multiplies)."""
    for g in opt.param_groups:
        i = g.get("layer_group", 0)
        g["initial_lr"] = g["lr"] = lrs[min(i, len(lrs) - 1)]


def peak_lrs(opt: torch.optim.Optimizer) -> list[float]:
    out: dict[int, float] = {}
    for g in opt.param_groups:
        out.setdefault(g.get("layer_group", 0), float(g.get("initial_lr", g["lr"])))
    return [out[k] for k in sorted(out)]


# -- freezing -------------------------------------------------------------------------------------
def freeze(learner: Any, *, train_bn: bool = True) -> list[int]:
    """Freeze every layer group but the last (the head); returns the frozen group indices."""
    groups = layer_groups(learner.model, learner.splitter)
    norm_params = {
        id(p)
        for m in learner.model.modules()
        if isinstance(m, NORM_LAYERS)
        for p in m.parameters(recurse=False)
    }
    for g in groups[:-1]:
        for p in g:
            p.requires_grad_(train_bn and id(p) in norm_params)
    for p in groups[-1]:
        p.requires_grad_(True)
    _norm_momentum(learner.model, frozen=not train_bn, groups=groups)
    return list(range(len(groups) - 1))


def unfreeze(learner: Any) -> None:
    """Every parameter trainable again (also those the user had frozen himself)."""
    for p in learner.model.parameters():
        p.requires_grad_(True)
    _norm_momentum(learner.model, frozen=False, groups=None)


def _norm_momentum(model: nn.Module, *, frozen: bool, groups: Any) -> None:
    """BatchNorm running statistics of the frozen body: momentum 0 while frozen (kept as they
    are), the saved momentum back when unfrozen."""
    body = set()
    if frozen and groups:
        body = {id(p) for g in groups[:-1] for p in g}
    for m in model.modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm):
            continue
        if frozen and any(id(p) in body for p in m.parameters(recurse=False)):
            if not hasattr(m, "_nnrecipe_momentum"):
                m._nnrecipe_momentum = m.momentum
            m.momentum = 0.0
        elif hasattr(m, "_nnrecipe_momentum"):
            m.momentum = m._nnrecipe_momentum
            del m._nnrecipe_momentum


def frozen_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if not p.requires_grad]


# -- lr="auto" ------------------------------------------------------------------------------------
_AUTO_CACHE: dict[tuple, dict[str, Any]] = {}


def auto_lr(
    model: nn.Module, data: Any, *, weight_decay: float, seed: int, loss: Any = None
) -> dict[str, Any]:
    """The range test of `nr.check` on a copy of `model` and its ``auto`` choice (see
    `nnrecipe.checks.transfer.auto_lr` for the rule); cached per initial weights, data and seed,
    so the checks stage and the train stage of a run share one test."""
    from nnrecipe.checks.transfer import range_test
    from nnrecipe.data import Data
    from nnrecipe.train.optim import adamw

    data = Data.coerce(data)
    key = (_state_hash(model), data.fingerprint(), float(weight_decay), int(seed), id(loss))
    if key not in _AUTO_CACHE:
        r = range_test(model, data, optimizer=adamw(3e-3, weight_decay), loss=loss, seed=seed)
        _AUTO_CACHE.clear()  # one entry: runs are sequential, models can be big
        _AUTO_CACHE[key] = {k: v for k, v in r.items() if k != "smooth"}
    return _AUTO_CACHE[key]


def resolve_lr(
    value: Any, model: nn.Module, data: Any, *, weight_decay: float, seed: int, loss: Any = None
) -> tuple[Any, dict[str, Any] | None]:
    """``"auto"`` -> the range test's rate (and the record of why); anything else unchanged."""
    if value != "auto":
        return value, None
    r = auto_lr(model, data, weight_decay=weight_decay, seed=seed, loss=loss)
    info = dict(r["auto"])
    info.update({"lr_min": r.get("lr_min"), "lr_diverge": r.get("lr_diverge")})
    if info["lr"] is None:
        info["lr"] = 3e-3
        info["why"] += "; the default 3e-3 is used"
    return info["lr"], info


def checks_optimizer(
    lr: Any, model: nn.Module, data: Any, *, weight_decay: float, seed: int
) -> Any:
    """The AdamW factory `nr.check` is given for a run's settings: ``lr="auto"`` resolved by the
    range test (the factory's ``auto`` attribute says how, for the ``lr-auto`` finding)."""
    from nnrecipe.train.optim import adamw

    value, info = resolve_lr(lr, model, data, weight_decay=weight_decay, seed=seed)
    factory = adamw(value, weight_decay)
    factory.auto = info  # type: ignore[attr-defined]
    return factory


def _state_hash(model: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()[:4096])
        h.update(str(float(v.detach().float().sum())).encode())
    return h.hexdigest()


def check_lr(lr: Any) -> None:
    if isinstance(lr, int | float):
        if not lr > 0:
            raise ConfigError(f"The learning rate must be > 0, got {lr}.")
        return
    if isinstance(lr, tuple | list):
        group_lrs(lr, 2 if len(lr) == 2 else len(lr))
        return
    raise ConfigError(f"lr must be a number, (lo, hi) or 'auto', got {lr!r}.")


# -- fine_tune ------------------------------------------------------------------------------------
def fine_tune(
    learner: Any,
    epochs: int,
    *,
    freeze_epochs: int = 1,
    base_lr: float | None = None,
    train_bn: bool = True,
    lr_mult: float = LR_MULT,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """fastai's ``fine_tune``: `freeze_epochs` with the body frozen (head at `base_lr`), then
    `epochs` with everything trainable at discriminative rates from ``base_lr / 2 / 100``
    (earliest group) to ``base_lr / 2`` (head), each phase on its own one-cycle schedule with
    warm-up. Each phase has its own checkpoint (``checkpoints/last-frozen.safetensors`` and
    ``last.safetensors``), so a kill in either phase resumes bit-identically; a finished frozen
    phase is restored from its checkpoint, not retrained. Writes ``transfer.json`` in `out`."""
    if freeze_epochs < 0 or epochs < 1:
        raise ConfigError(
            f"fine_tune needs epochs >= 1 and freeze_epochs >= 0, got {epochs}, {freeze_epochs}."
        )
    learner._fine_tuning = True  # layer groups even for a model without nnrecipe_groups
    if learner._ready and not hasattr(learner, "n_groups"):
        learner.opt = make_optimizer(learner)  # set up for fit() before: regroup
        for g in learner.opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
    learner._setup()
    if base_lr is None:
        base_lr = (
            learner.lr if isinstance(learner.lr, int | float) else max(group_lrs(learner.lr, 2))
        )
    n = learner.n_groups if hasattr(learner, "n_groups") else 1
    phases = []
    frozen_history: list[dict[str, Any]] = []
    threads, patience = learner.threads, learner.patience
    if freeze_epochs:
        learner._phase = "frozen"
        frozen = freeze(learner, train_bn=train_bn)
        set_lrs(learner.opt, [base_lr] * n)
        learner.patience = None  # the head phase is short: it always runs to the end
        try:
            frozen_history = [
                dict(r, phase="frozen") for r in learner.fit(freeze_epochs, resume=resume)
            ]
        finally:
            learner.patience = patience
        phases.append(_phase_record("frozen", learner, frozen, frozen_history, train_bn))
        learner.threads = learner.threads_used  # the same threads for the second phase
    learner._phase = "unfrozen"
    unfreeze(learner)
    set_lrs(
        learner.opt, group_lrs((base_lr / 2 / lr_mult, base_lr / 2), n) if n > 1 else [base_lr / 2]
    )
    try:
        unfrozen = [dict(r, phase="unfrozen") for r in learner.fit(epochs, resume=resume)]
    finally:
        learner.threads = threads
        learner._phase = None
    phases.append(_phase_record("unfrozen", learner, [], unfrozen, train_bn))
    offset = len(frozen_history)
    learner.history = [
        {**r, "phase_epoch": r["epoch"], "epoch": i + 1}
        for i, r in enumerate(frozen_history + unfrozen)
    ]
    if learner.best_epoch is not None:
        learner.best_epoch += offset
    learner.transfer = {
        "base_lr": base_lr,
        "lr_mult": lr_mult,
        "groups": _group_names(learner),
        "phases": phases,
        "train_bn": train_bn,
        "pretrained": getattr(learner.model, "nnrecipe_pretrained", None),
        "preprocess": getattr(learner.model, "nnrecipe_preprocess", None),
        "lr_auto": getattr(learner, "lr_auto", None),
    }
    if learner.out is not None:
        learner._write_metrics_csv()
        from nnrecipe.io import atomic_write_text

        atomic_write_text(
            learner.out / "transfer.json", json.dumps(learner.transfer, indent=2, default=str)
        )
    return learner.history


def _phase_record(
    name: str, learner: Any, frozen: list[int], history: list[dict[str, Any]], train_bn: bool
) -> dict[str, Any]:
    return {
        "phase": name,
        "epochs": len(history),
        "frozen_groups": frozen,
        "frozen_parameters": len(frozen_names(learner.model)),
        "lr": peak_lrs(learner.opt),
        "train_bn": train_bn,
        "best_epoch": learner.best_epoch,
        "best_score": learner.best_score,
        "history": [
            {k: v for k, v in r.items() if isinstance(v, int | float | str)} for r in history
        ],
    }


def _group_names(learner: Any) -> list[str]:
    """A short label per layer group: its first and last parameter names."""
    names = {id(p): n for n, p in learner.model.named_parameters()}
    out = []
    for g in layer_groups(learner.model, learner.splitter):
        first, last = (names[id(p)].rsplit(".", 1)[0] for p in (g[0], g[-1]))
        out.append(first if first == last else f"{first} … {last}")
    return out


def compare_to_scratch(learner: Any, scratch: Any, *, split: str = "valid") -> dict[str, Any]:
    """Record the gain of a fine-tuned `learner` over `scratch` (a Learner that trained the same
    architecture from random weights) on `split`, in ``transfer.json``, for the report."""
    metric = learner.task.primary_metric
    tuned, base = learner.evaluate(split)[metric], scratch.evaluate(split)[metric]
    record = {
        "metric": f"{split} {metric}",
        "score": base,
        "fine_tuned": tuned,
        "gain": tuned - base,
    }
    learner.transfer = {**(getattr(learner, "transfer", None) or {}), "scratch": record}
    if learner.out is not None:
        from nnrecipe.io import atomic_write_text

        atomic_write_text(
            learner.out / "transfer.json", json.dumps(learner.transfer, indent=2, default=str)
        )
    return record


def is_pretrained(model: nn.Module) -> bool:
    return bool(getattr(model, "nnrecipe_pretrained", None))


def fit_or_fine_tune(learner: Any, epochs: int, *, resume: bool = False) -> list[dict[str, Any]]:
    """What `nnrecipe run` trains with: `fine_tune` for a model with pretrained weights (one
    frozen epoch, then `epochs - 1`), `fit` otherwise."""
    if is_pretrained(learner.model) and epochs >= 2:
        return fine_tune(learner, epochs - 1, freeze_epochs=1, resume=resume)
    history = learner.fit(epochs, resume=resume)
    pre = getattr(learner.model, "nnrecipe_preprocess", None)
    if learner.out is not None and (pre or getattr(learner, "lr_auto", None)):
        from nnrecipe.io import atomic_write_text

        record = {"phases": [], "preprocess": pre, "lr_auto": learner.lr_auto}
        atomic_write_text(learner.out / "transfer.json", json.dumps(record, indent=2, default=str))
    return history


__all__ = [
    "fine_tune",
    "freeze",
    "unfreeze",
    "layer_groups",
    "group_lrs",
    "auto_lr",
    "checks_optimizer",
    "compare_to_scratch",
    "fit_or_fine_tune",
]
