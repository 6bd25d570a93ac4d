"""Weights for `nnrecipe.models.pretrained`: torchvision's weights enums (``"default"``,
``"IMAGENET1K_V1"``), its cache, safetensors and ``.pth`` files (``weights_only=True``), and
loading them into a body while checking every name and shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.errors import ConfigError

# Vision transformers have a fixed grid of position embeddings: 224 x 224 inputs only.
FIXED_SIZE = {"vit": 224, "maxvit": 224}
# The others downsample 32x: smaller images are upsampled to 32 x 32 (1 x 1 at the last stage).
MIN_SIZE = 32


# -- weights ------------------------------------------------------------------------------------
def weights_enum(name: str, weights: Any) -> Any:
    """torchvision's weights enum for ``"default"`` / ``"IMAGENET1K_V1"``, else None."""
    if weights is None or isinstance(weights, Path) or Path(str(weights)).suffix:
        return None
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    if str(weights).lower() == "default":
        return enum.DEFAULT
    try:
        return enum[str(weights)]
    except KeyError:
        known = ", ".join(w.name for w in enum)
        raise ConfigError(
            f"--weights {weights!r} is neither a file nor a weights name of {name}: pass a "
            f".safetensors/.pth file, 'default', or one of {known}."
        ) from None


def load_state(name: str, weights: Any, enum: Any) -> dict[str, Tensor]:
    if enum is not None:
        return torchvision_state(name, enum)
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(
            f"Weights file {str(path)!r} does not exist: pass a .safetensors or .pth file, or "
            "'default' for torchvision's."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(
            f"Cannot read weights {str(path)!r} ({type(e).__name__}: {e}): pass a safetensors "
            "file or a state dict saved with torch.save(model.state_dict(), path)."
        ) from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ConfigError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict.")
    return state


def torchvision_state(name: str, enum: Any) -> dict[str, Tensor]:
    """From torchvision's cache (``$TORCH_HOME/hub/checkpoints``), else downloaded by it."""
    from urllib.error import URLError

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    try:
        return enum.get_state_dict(progress=False, check_hash=True)
    except (URLError, OSError, RuntimeError) as e:
        raise ConfigError(
            f"The {name} weights {enum} are not in torchvision's cache and cannot be downloaded "
            f"({type(e).__name__}): download {enum.url} on a machine with internet and pass "
            f"--weights PATH, or copy the file to {cached}."
        ) from e


def load_body(
    net: nn.Module, state: dict[str, Tensor], *, source: str, ignore: set[str] = frozenset()
) -> None:
    """Load `state` into `net`; keys of `ignore` (the head) may be missing or differ in shape."""
    own = net.state_dict()
    state = {
        k: v for k, v in state.items() if not (k in ignore and k in own and own[k].shape != v.shape)
    }
    bad = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and k not in ignore]
    unexpected = [k for k in state if k not in own]
    if bad or missing or unexpected:
        parts = []
        if bad:
            parts.append(
                f"{len(bad)} with other shapes (e.g. {bad[0]}: {tuple(state[bad[0]].shape)} vs "
                f"{tuple(own[bad[0]].shape)})"
            )
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:2])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:2])})")
        raise ConfigError(
            f"The weights in {source!r} do not fit {type(net).__name__}: {'; '.join(parts)}: "
            "they were saved from another architecture or for other inputs."
        )
    net.load_state_dict(state, strict=False)


def weights_stats(enum: Any) -> tuple[list[float], list[float]]:
    if enum is not None:
        t = enum.transforms()
        return [float(v) for v in t.mean], [float(v) for v in t.std]
    return [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # ImageNet's, every torchvision weight


def default_size(family: str, enum: Any, input_size: tuple[int, ...] | None) -> int | None:
    if family in FIXED_SIZE:
        return FIXED_SIZE[family]
    if enum is not None:
        return int(enum.transforms().crop_size[0])
    if input_size and len(input_size) == 2 and min(input_size) < MIN_SIZE:
        return MIN_SIZE
    return None


def transforms_text(enum: Any) -> str | None:
    return None if enum is None else " ".join(str(enum.transforms()).split())
