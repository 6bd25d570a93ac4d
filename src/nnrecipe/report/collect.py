"""What the report needs from the data and the trained model, saved into the run folder.

The report stage calls `collect` while the data and the model are in memory and writes
``report/data.json``; `nnrecipe report RUN_DIR` then rebuilds the page from the run folder alone.
It holds: class counts per split, a few samples per class (PNG thumbnails or down-sampled
signals), per-class metrics and the confusion matrix on valid, the top losses with their inputs,
given and predicted labels, per-feature summaries for tables, and the name of the first conv
layer's weight (its filters are drawn from ``model.safetensors``).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nnrecipe.data.batch import tensors_of

THUMB_MAX_SIDE = 64  # thumbnails are at most 64 px; the page scales them up, pixelated
SERIES_POINTS = 96  # signals are down-sampled to this many points per channel
MAX_FEATURES = 60
HIST_BINS = 16


def thumbnail(x: Tensor) -> dict[str, Any]:
    """One input as something the page can show: a PNG (images) or a list of points (signals)."""
    if x.ndim == 3:  # (C, H, W) -> PNG, min-max scaled over the whole image
        from PIL import Image

        a = x.float()
        if a.shape[0] not in (1, 3):
            a = a.mean(0, keepdim=True)
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo if hi > lo else 1.0) * 255).round().clamp(0, 255).byte()
        arr = a.permute(1, 2, 0).numpy()
        im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        if max(im.size) > THUMB_MAX_SIDE:
            im.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE))
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
        return {"png": base64.b64encode(buf.getvalue()).decode("ascii")}
    if x.ndim == 2:  # (C, L) -> points per channel
        step = max(1, x.shape[1] // SERIES_POINTS)
        return {"series": [[round(float(v), 3) for v in ch[::step]] for ch in x[:3]]}
    return {}


def _targets(split: Any) -> Tensor:
    """A split's targets without reading its inputs (streamed splits keep `y` in memory)."""
    return split.y if split.y is not None else split.tensors()[1]


def _inputs_at(split: Any, positions: list[int]) -> Tensor:
    """The inputs at `positions`; a streamed split reads only those samples."""
    if split.in_memory:
        return split.x[positions]
    return torch.stack([torch.as_tensor(split.dataset[i][0]) for i in positions])


def _file_of(data: Any, split: str, position: int) -> str | None:
    files = (data.meta.get("files") or {}).get(split)
    if files and 0 <= position < len(files):
        return str(files[position])
    return None


def _results(learner: Any, data: Any) -> dict[str, Any]:
    """The task's results on the validation split (`Task.collect`: per-class metrics,
    confusion matrix, top losses ...), each shown sample with its index, file and thumbnail."""
    out, y = learner.outputs("valid")
    images = data.modality != "tabular"
    index = data.valid.index

    def sample(position: int) -> dict[str, Any]:
        return {
            "position": position,
            "index": int(index[position]) if index is not None else position,
            "file": _file_of(data, "valid", position),
            **(thumbnail(_inputs_at(data.valid, [position])[0]) if images else {}),
        }

    return learner.task.collect(out, y, data, sample)


def _feature_summaries(data: Any) -> list[dict[str, Any]]:
    """Mean, std, range, correlation with the target and a histogram per input column (train)."""
    x, y = data.train.tensors()
    # (N, *shape) -> (N, D); several input tensors (cat + cont columns) side by side
    x = np.concatenate([t.reshape(len(t), -1).float().numpy() for t in tensors_of(x)], axis=1)
    yv = y.reshape(len(y), -1)[:, 0].float().numpy()
    names = data.feature_names or [f"x{i}" for i in range(x.shape[1])]
    rows = []
    for j in range(min(x.shape[1], MAX_FEATURES)):
        col = x[:, j]
        finite = col[np.isfinite(col)]
        corr = (
            float(np.corrcoef(col, yv)[0, 1])
            if finite.size == col.size and col.std() > 0 and yv.std() > 0
            else None
        )
        counts = np.histogram(finite, HIST_BINS)[0].tolist() if finite.size else []
        rows.append(
            {
                "name": str(names[j]) if j < len(names) else f"x{j}",
                "mean": float(finite.mean()) if finite.size else None,
                "std": float(finite.std()) if finite.size else None,
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
                "non_finite": int(col.size - finite.size),
                "corr_target": corr,
                "hist": counts,
            }
        )
    return rows


def first_conv_weight(model: nn.Module) -> str | None:
    """The state-dict name of the first convolution's weight, in module order."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            return f"{name}.weight" if name else "weight"
    return None


@torch.no_grad()
def collect(data: Any, learner: Any = None, model: nn.Module | None = None) -> dict[str, Any]:
    """Everything the report shows that needs the data or the trained model (JSON-able)."""
    out: dict[str, Any] = {
        "modality": data.modality,
        "task": data.task.name,
        "classes": data.classes,
        "feature_names": data.feature_names,
        "sizes": {k: len(v) for k, v in data.splits.items()},
    }

    def show(positions: list[int]) -> list[dict[str, Any]]:
        x = _inputs_at(data.train, positions) if positions else []
        return [{"position": i, **thumbnail(x[k])} for k, i in enumerate(positions)]

    out.update(data.task.data_summary(data, show))
    if data.modality == "tabular":
        out["features"] = _feature_summaries(data)
    if learner is not None:
        # What the task reads from the trained model itself (embeddings, biases, table rows).
        out["results"] = {**_results(learner, data), **learner.task.inspect(learner.model, data)}
    if model is not None:
        out["first_conv"] = first_conv_weight(model)
    return out
