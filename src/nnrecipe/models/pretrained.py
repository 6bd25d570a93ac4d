"""Pretrained bodies with a new head: torchvision classification models by name, a saved run's
model (``--pretrained runs/NAME``), or any ``nn.Module``.

Every model made here carries three plain attributes the rest of nnrecipe reads:

- ``nnrecipe_groups``: the parameter names of each layer group, earliest first, head last
  (``fine_tune`` freezes all but the last and gives earlier groups smaller learning rates);
- ``nnrecipe_pretrained``: where the weights came from (None: random weights);
- ``nnrecipe_preprocess``: a JSON-able dict of the input adaptation done inside ``forward``
  (gray to RGB, resize) and the normalisation the weights expect; saved with the run so that
  prediction applies the same (it is part of the model, so ``Learner.predict`` does).

Nothing here downloads anything unless the user asks for ``weights="default"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnrecipe.errors import ConfigError, ModelError
from nnrecipe.models.builtin import Head
from nnrecipe.models.weights import (
    default_size,
    load_body,
    load_state,
    transforms_text,
    weights_enum,
    weights_stats,
)

# torchvision classification architectures whose last layer is an nn.Linear (googlenet and
# inception_v3 carry auxiliary heads, squeezenet a convolutional one: not supported).
FAMILIES: dict[str, tuple[str, ...]] = {
    "alexnet": ("alexnet",),
    "convnext": ("convnext_tiny", "convnext_small", "convnext_base", "convnext_large"),
    "densenet": ("densenet121", "densenet161", "densenet169", "densenet201"),
    "efficientnet": (
        *(f"efficientnet_b{i}" for i in range(8)),
        "efficientnet_v2_s",
        "efficientnet_v2_m",
        "efficientnet_v2_l",
    ),
    "maxvit": ("maxvit_t",),
    "mnasnet": ("mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"),
    "mobilenet": ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"),
    "regnet": tuple(
        f"regnet_{k}_{s}"
        for k in ("x", "y")
        for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
    )
    + ("regnet_y_128gf",),
    "resnet": ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
    "resnext": ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"),
    "shufflenet": tuple(f"shufflenet_v2_x{s}" for s in ("0_5", "1_0", "1_5", "2_0")),
    "swin": ("swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"),
    "vgg": tuple(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    "vit": ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"),
    "wide_resnet": ("wide_resnet50_2", "wide_resnet101_2"),
}
ARCHITECTURES: tuple[str, ...] = tuple(n for names in FAMILIES.values() for n in names)
BODY_GROUPS = 2  # body layer groups before the head (fastai's split of a resnet: 2 + head)


def family_of(name: str) -> str:
    for family, names in FAMILIES.items():
        if name in names:
            return family
    raise ConfigError(
        f"Unknown pretrained architecture {name!r}: use one of {', '.join(ARCHITECTURES)}."
    )


class InputAdapter(nn.Module):
    """Gray to RGB (repeat the channel), resize to the body's size, and optionally normalise
    with the weights' mean/std; no parameters, so it never changes the weights."""

    def __init__(
        self,
        *,
        repeat: int = 1,
        size: tuple[int, int] | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.repeat, self.size = repeat, size
        self.normalise = mean is not None and std is not None
        if self.normalise:
            self.register_buffer("mean", torch.tensor(mean).reshape(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std).reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.repeat > 1:
            x = x.repeat(1, self.repeat, 1, 1)  # (B, 1, H, W) -> (B, 3, H, W)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        if self.normalise:
            x = (x - self.mean) / self.std
        return x


class Pretrained(nn.Module):
    """A body (torchvision network or saved model) whose last linear layer is a new `Head`,
    behind an `InputAdapter`."""

    def __init__(self, net: nn.Module, adapter: InputAdapter) -> None:
        super().__init__()
        self.adapt = adapter
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.adapt(x))


# -- the public verbs -----------------------------------------------------------------------------
def pretrained(
    name: str,
    *,
    weights: str | Path | None = None,
    num_classes: int | None = None,
    in_channels: int = 3,
    input_size: tuple[int, ...] | None = None,
    size: int | None = None,
    normalise: bool = False,
) -> Pretrained:
    """A torchvision classification network with a new head.

    Args:
        name: a torchvision architecture (``"resnet18"``, ``"mobilenet_v3_small"``,
            ``"efficientnet_b0"``, ``"convnext_tiny"``, ``"vit_b_16"``, ...; see `ARCHITECTURES`).
        weights: None (random), a ``.safetensors`` file or a torchvision ``.pth`` state dict
            (read with ``weights_only=True``), ``"default"`` or a weights name such as
            ``"IMAGENET1K_V1"`` (read from torchvision's cache, downloaded only if missing).
        num_classes: outputs of the new head (None: keep the weights' 1000 outputs).
        in_channels: 1 (repeated to RGB inside forward) or 3.
        input_size: the data's (H, W); smaller than the body's minimum is upsampled.
        size: resize every input to ``size x size`` (default: the weights' crop size for
            torchvision weights, 224 for vision transformers, else the input size, at least 32).
        normalise: apply the weights' mean/std inside forward (for inputs in [0, 1]; nnrecipe's
            built-in data are already standardised per channel, which is what the weights want).

    Raises:
        ConfigError: unknown name, unreadable or mismatched weights, or default weights
            unavailable offline (the message says where to get the file).

    Example:
        >>> import torch, nnrecipe as nr
        >>> m = nr.models.pretrained("resnet18", num_classes=10, in_channels=1, input_size=(8, 8))
        >>> m(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    import torchvision

    family = family_of(name)
    if in_channels not in (1, 3):
        raise ConfigError(
            f"{name} takes 1- or 3-channel images, got {in_channels} channels: convert the "
            "images to RGB or grayscale."
        )
    enum = weights_enum(name, weights)
    net = torchvision.models.get_model(name, weights=None)
    source = None
    if weights is not None:
        state = load_state(name, weights, enum)
        if state and all(k.startswith(("net.", "adapt.")) for k in state):  # an nnrecipe model
            state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
        head = last_linear(net)
        load_body(net, state, source=str(weights), ignore={f"{head}.weight", f"{head}.bias"})
        source = f"torchvision:{enum}" if enum is not None else str(weights)
    head_name = last_linear(net)
    if num_classes is not None:
        old = net.get_submodule(head_name)
        _set_module(net, head_name, Head(old.in_features, num_classes))
    crop = size or default_size(family, enum, input_size)
    mean, std = weights_stats(enum)
    adapter = InputAdapter(
        repeat=3 if in_channels == 1 else 1,
        size=(crop, crop) if crop else None,
        mean=mean if normalise else None,
        std=std if normalise else None,
    )
    model = Pretrained(net, adapter)
    model.nnrecipe_groups = split_groups(model, f"net.{head_name}")
    model.nnrecipe_pretrained = source
    model.nnrecipe_preprocess = {
        "architecture": name,
        "weights": source,
        "gray_to_rgb": in_channels == 1,
        "resize": [crop, crop] if crop else None,
        "mean": mean,
        "std": std,
        "normalise_in_model": bool(normalise),
        "expects": "inputs standardised per channel"
        if not normalise
        else "inputs in [0, 1], normalised inside the model",
        "transforms": transforms_text(enum),
    }
    return model


def new_head(
    model: nn.Module,
    num_classes: int,
    *,
    splitter: Callable[[nn.Module], list[list[nn.Parameter]]] | None = None,
    source: str | None = "nn.Module",
) -> nn.Module:
    """Replace `model`'s head (its last `nn.Linear`, or its `Head`) by a new `Head` with
    `num_classes` outputs, in place; mark the layer groups (from `splitter` if given) and the
    model as pretrained so that `nnrecipe run` and `Learner.fine_tune` treat it as a body."""
    head_name = head_of(model)
    old = model.get_submodule(head_name)
    in_features = old.linear.in_features if isinstance(old, Head) else old.in_features
    _set_module(model, head_name, Head(in_features, num_classes))
    if splitter is not None:
        ids = {id(p): n for n, p in model.named_parameters()}
        model.nnrecipe_groups = [[ids[id(p)] for p in g] for g in splitter(model)]
    else:
        model.nnrecipe_groups = split_groups(model, head_name)
    model.nnrecipe_pretrained = source
    return model


def from_run(
    run_dir: str | Path, data: Any, *, name: str | None = None, **options: Any
) -> nn.Module:
    """The model of a finished run (``runs/NAME/model.safetensors``) as the body of a new model
    for `data`: every weight but the head's is loaded; the head is new, sized for `data`."""
    from nnrecipe.models import MODELS, default_model_name

    path = Path(run_dir) / "model.safetensors"
    if not path.is_file():
        raise ConfigError(
            f"--pretrained {str(run_dir)!r} has no model.safetensors: pass the folder of a "
            "finished `nnrecipe run`."
        )
    state, meta = _read_safetensors(path)
    saved = _run_config(Path(run_dir))
    arch = name or meta.get("model") or saved.get("model")
    arch = arch or default_model_name(data.modality, data.task)
    opts = {**(meta.get("options") or {}), **options}
    opts.pop("pretrained", None)
    if arch not in MODELS:
        raise ConfigError(f"Run {str(run_dir)!r} used model {arch!r}, which is not registered.")
    model = MODELS[arch](data, **{k: v for k, v in opts.items() if k != "weights"})
    head_name = head_of(model)
    head_keys = {f"{head_name}.{k}" for k in model.get_submodule(head_name).state_dict()}
    body = {k: v for k, v in state.items() if k not in head_keys}
    load_body(model, body, source=str(path), ignore=head_keys)
    head = model.get_submodule(head_name)
    if isinstance(head, Head):
        head.init_from(data.task, data.train.targets())
    if getattr(model, "nnrecipe_groups", None) is None:
        model.nnrecipe_groups = split_groups(model, head_name)
    model.nnrecipe_pretrained = f"run:{Path(run_dir)}"
    pre = dict(getattr(model, "nnrecipe_preprocess", None) or {})
    pre.update({"weights": f"run:{Path(run_dir)}", "source_data": saved.get("data")})
    pre.setdefault("expects", "inputs standardised like the source run's (zero mean, unit std)")
    model.nnrecipe_preprocess = pre
    return model


# -- layer groups ---------------------------------------------------------------------------------
def head_of(model: nn.Module) -> str:
    """The name of the model's head: its last nnrecipe `Head`, else its last `nn.Linear`."""
    heads = [n for n, m in model.named_modules() if isinstance(m, Head)]
    if heads:
        return heads[-1]
    return last_linear(model)


def last_linear(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ModelError(
            f"{type(model).__name__} has no nn.Linear layer to replace as the head: pass "
            "splitter=fn(model) -> [body params, head params] and replace the head yourself."
        )
    return names[-1]


def split_groups(model: nn.Module, head: str, n: int = BODY_GROUPS) -> list[list[str]]:
    """Parameter names per layer group, in forward (definition) order: the body cut into `n`
    groups of about as many blocks each, then the head.

    Blocks: the top-level children; a child holding more than half of the body's parameters
    (e.g. resnet's none, mobilenet's ``features``, ViT's ``encoder.layers``) is replaced by its
    own children, repeatedly, so the cut falls between stages rather than inside one."""
    prefix = head + "."
    body_names = [nm for nm, _ in model.named_parameters() if not nm.startswith(prefix)]
    head_names = [nm for nm, _ in model.named_parameters() if nm.startswith(prefix)]
    sizes = dict((nm, p.numel()) for nm, p in model.named_parameters())
    total = sum(sizes[nm] for nm in body_names) or 1

    def params_under(path: str) -> list[str]:
        pre = path + "." if path else ""
        return [nm for nm in body_names if nm.startswith(pre)]

    units: list[list[str]] = [params_under("")]
    paths = [""]
    changed = True
    while changed:
        changed = False
        for i, (path, names) in enumerate(zip(paths, units, strict=True)):
            if path.endswith("#own"):
                continue
            mod = model.get_submodule(path) if path else model
            children = [(f"{path}.{c}" if path else c) for c, _ in mod.named_children()]
            children = [c for c in children if params_under(c) and not (c == head)]
            if sum(sizes[nm] for nm in names) * 2 <= total or not children:
                continue
            direct = [nm for nm in names if not any(nm.startswith(c + ".") for c in children)]
            new_paths, new_units = [], []
            if direct:
                new_paths.append(path + "#own")
                new_units.append(direct)
            for c in children:
                new_paths.append(c)
                new_units.append(params_under(c))
            paths[i : i + 1], units[i : i + 1] = new_paths, new_units
            changed = True
            break
    units = [u for u in units if u]
    n = max(1, min(n, len(units)))
    cuts = [round(len(units) * k / n) for k in range(n + 1)]
    groups = [[nm for u in units[cuts[k] : cuts[k + 1]] for nm in u] for k in range(n)]
    # Keep definition order inside each group (named_parameters order).
    order = {nm: i for i, nm in enumerate(sizes)}
    groups = [sorted(g, key=order.__getitem__) for g in groups if g]
    return [*groups, head_names] if head_names else groups


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Tensors and nnrecipe's JSON metadata of a run's model file (as train.checkpoint saves)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("nnrecipe", "{}"))
        return load_file(str(path)), meta
    except Exception as e:
        raise ConfigError(f"Cannot read {str(path)!r} ({e}): it is damaged; rerun that run.") from e


def _run_config(run_dir: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return {**(cfg.get("config") or {}), "data": (cfg.get("data") or {}).get("name")}


# -- registration in nnrecipe.models.MODELS -----------------------------------------------------
def _builder(name: str) -> Callable[..., nn.Module]:
    def build(data: Any, *, weights: str | None = None, **options: Any) -> nn.Module:
        shape = tuple(data.input_shape)
        if len(shape) != 3:
            raise ConfigError(
                f"Model {name!r} needs images of shape (channels, height, width), got {shape}: "
                "use 'mlp' for tables or 'cnn1d' for signals."
            )
        unknown = {k for k in options if k not in ("width", "depth", "dropout")}
        if unknown:
            raise ConfigError(f"Model {name!r} takes no option {', '.join(sorted(unknown))}.")
        model = pretrained(
            name,
            weights=weights,
            num_classes=data.task.output_size(),
            in_channels=shape[0],
            input_size=shape[1:],
        )
        model.get_submodule(head_of(model)).init_from(data.task, data.train.targets())
        return model

    build.__name__ = f"build_{name}"
    return build


def register_all() -> None:
    """Register every supported torchvision architecture in `nnrecipe.models.MODELS` (builders
    import torchvision only when called)."""
    from nnrecipe.models import MODELS

    for name in ARCHITECTURES:
        MODELS.setdefault(name, _builder(name))
