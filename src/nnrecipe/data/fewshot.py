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
