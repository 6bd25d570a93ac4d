"""Few-shot data: a split by class (training classes vs held-out classes) and N-way K-shot
episodes drawn from a split's labels.

The few-shot task trains on some classes and is scored on classes it never saw: train holds
every sample of the training classes; valid and test hold the held-out classes, each sample
in one of them (stratified by class, seeded).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nnrecipe.data.batch import batch_cat, batch_take
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError


def split_by_class(
    splits: dict[str, Split],
    held_out: list[int],
    *,
    seed: int = 0,
    min_per_class: int = 2,
    names: list[str] | None = None,
) -> dict[str, Split]:
    """Pool the splits and re-split them by class: train = the other classes, valid and test =
    the `held_out` classes (half each; all in valid when there was no test split).

    Raises:
        DataError: a split is streamed, or a held-out class has fewer than `min_per_class`
            samples in valid or test.
    """
    if any(not s.in_memory for s in splits.values()):
        raise DataError(
            "The few-shot task re-splits the data by class and needs it in memory: load the "
            "images with Data.from_folder(..., size=...) into memory or pass arrays."
        )
    order = [k for k in ("train", "train_dev", "valid", "test") if k in splits]
    x = batch_cat([splits[k].x for k in order])
    y = torch.cat([splits[k].y for k in order])  # type: ignore[misc]
    index = torch.cat(
        [
            s.index if s.index is not None else torch.arange(len(s))
            for s in (splits[k] for k in order)
        ]
    )
    held = torch.tensor(sorted(held_out), dtype=y.dtype)
    is_held = torch.isin(y, held)
    rng = np.random.default_rng(seed)
    valid_idx, test_idx = [], []
    two = "test" in splits
    for c in held.tolist():
        idx = (y == c).nonzero().reshape(-1).numpy()
        rng.shuffle(idx)
        cut = len(idx) // 2 if two else len(idx)
        valid_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
        for split_name, part in (("valid", idx[:cut]), ("test", idx[cut:])):
            if split_name == "test" and not two:
                continue
            if len(part) < min_per_class:
                label = names[c] if names and c < len(names) else str(c)
                raise DataError(
                    f"Few-shot class {label!r} has {len(part)} sample(s) in the {split_name} "
                    f"split, but an episode needs {min_per_class} (K shots + 1 query): use "
                    "fewer shots, or hold out classes with more samples."
                )
    train = (~is_held).nonzero().reshape(-1)

    def take(i: Any) -> Split:
        i = torch.as_tensor(np.sort(np.concatenate(i)) if isinstance(i, list) else i)
        return Split(batch_take(x, i), y[i], index=index[i])

    out = {"train": take(train), "valid": take(valid_idx)}
    if two:
        out["test"] = take(test_idx)
    return out


def episodes(
    y: Tensor, *, ways: int, shots: int, queries: int, count: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """`count` N-way K-shot episodes over the labels `y`.

    Returns (support, query) sample indices, shaped (count, ways, shots) and (count, ways,
    queries): class j of an episode is the j-th of `ways` classes drawn at random.
    """
    gen = torch.Generator().manual_seed(seed)
    classes = torch.unique(y)
    members = [(y == c).nonzero().reshape(-1) for c in classes]
    support = torch.empty(count, ways, shots, dtype=torch.long)
    query = torch.empty(count, ways, queries, dtype=torch.long)
    for e in range(count):
        chosen = torch.randperm(len(classes), generator=gen)[:ways]
        for j, c in enumerate(chosen.tolist()):
            idx = members[c][torch.randperm(len(members[c]), generator=gen)[: shots + queries]]
            support[e, j], query[e, j] = idx[:shots], idx[shots:]
    return support, query


def episode_accuracy(emb: Tensor, support: Tensor, query: Tensor) -> Tensor:
    """(count,) accuracy of nearest-prototype classification in each episode: a query goes
    to the class whose support embeddings' mean is closest (Euclidean)."""
    protos = emb[support].mean(2)  # (E, N, K, D) -> (E, N, D)
    e, n, q = query.shape
    queries = emb[query].reshape(e, n * q, -1)  # (E, N*Q, D)
    nearest = torch.cdist(queries, protos).argmin(2)  # (E, N*Q)
    truth = torch.arange(n).repeat_interleave(q)[None].expand(e, -1)
    return (nearest == truth).float().mean(1)


# Views for the supcon objective: a small random affine map of each image (rotation, scale,
# shift) or signal (scale, shift); tables and other inputs get the sample itself twice (dropout
# makes the two embeddings differ). Measured on digits 0-4 -> 5-9, with the layout-keeping
# embedding: 0.775 valid 5-way 1-shot with these views, 0.669 without (nca + uniformity).
ROTATE, SCALE, SHIFT = 0.2, 0.1, 0.15  # radians, relative, in [-1, 1] grid units


def random_view(x: Any, generator: torch.Generator) -> Any:
    """`x` (B, C, H, W) or (B, C, L) under a random affine map per sample, drawn from
    `generator`; any other input as is."""
    import torch.nn.functional as F

    if not isinstance(x, Tensor) or x.ndim not in (3, 4) or not torch.is_floating_point(x):
        return x
    b = len(x)

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).mul_(2).sub_(1).to(x.device)

    rot = uniform(b) * ROTATE if x.ndim == 4 else torch.zeros(b, device=x.device)
    scale = 1 + uniform(b) * SCALE
    shift = uniform(b, 2) * SHIFT
    cos, sin = torch.cos(rot) / scale, torch.sin(rot) / scale
    if x.ndim == 3:
        shift[:, 1] = 0
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    img = x if x.ndim == 4 else x[:, :, None]  # (B, C, L) -> (B, C, 1, L)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    out = F.grid_sample(img, grid, padding_mode="border", align_corners=False)
    return out if x.ndim == 4 else out[:, :, 0]


def two_view_batches(
    split: Split, batch_size: int, *, generator: torch.Generator, drop_last: bool
) -> Any:
    """Shuffled batches of `batch_size` samples, each sample twice under two random views:
    inputs (2B, ...), targets (2B, 2) = (class, sample within the batch)."""
    for xb, yb in split.batches(batch_size, shuffle=True, generator=generator, drop_last=drop_last):
        group = torch.arange(len(yb), device=yb.device).repeat(2)
        x = batch_cat([random_view(xb, generator), random_view(xb, generator)])
        yield x, torch.stack([yb.repeat(2), group], 1)
