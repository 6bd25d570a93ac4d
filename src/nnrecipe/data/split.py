"""A split (train / valid / test / train-dev): in-memory tensors, or a streamed Dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from nnrecipe.data.batch import Inputs, batch_cat, batch_len, batch_take
from nnrecipe.errors import DataError

Batch = tuple[Inputs, Tensor]


class Split:
    """The samples of one split.

    Small data sets live in memory (`x`, `y` tensors) and batches are sliced from them directly,
    with no per-sample DataLoader overhead. Large ones keep a `dataset` and stream through a
    DataLoader. `index` maps each sample back to its position in the original source.
    """

    def __init__(
        self,
        x: Inputs | None = None,
        y: Tensor | None = None,
        *,
        dataset: Dataset | None = None,
        index: Tensor | None = None,
        num_workers: int = 0,
    ) -> None:
        self.x = x
        self.y = y
        self.dataset = dataset
        self.index = index
        self.num_workers = num_workers

    @property
    def in_memory(self) -> bool:
        return self.x is not None

    def __len__(self) -> int:
        if self.x is not None:
            return batch_len(self.x)
        return len(self.dataset)  # type: ignore[arg-type]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        limit: int | None = None,
        sampler: Sampler | None = None,
        pin_memory: bool = False,
    ) -> Iterator[Batch]:
        """Yield (x, y) batches; with `shuffle`, the order comes from `generator` alone.

        A streamed split can take a `sampler` instead (a `DistributedSampler`: this process's
        share) and read into pinned memory (`pin_memory`, for asynchronous copies to CUDA)."""
        n = len(self)
        if not self.in_memory:
            loader = DataLoader(
                self.dataset,  # type: ignore[arg-type]
                batch_size=batch_size,
                shuffle=shuffle and sampler is None,
                sampler=sampler,
                generator=generator,
                drop_last=drop_last,
                num_workers=self.num_workers,
                pin_memory=pin_memory,
            )
            try:
                for i, (xb, yb) in enumerate(loader):
                    if limit is not None and i >= limit:
                        return
                    yield xb, yb
            except DataError as e:
                # A DataLoader worker re-raises with its traceback in the message: keep the
                # last line, the sentence the user needs.
                text = str(e).strip()
                if "DataLoader worker" not in text:
                    raise
                raise DataError(text.splitlines()[-1].split(": ", 1)[-1]) from None
            return
        order = torch.randperm(n, generator=generator) if shuffle else None
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        for i, start in enumerate(range(0, stop, batch_size)):
            if limit is not None and i >= limit:
                return
            idx = (
                slice(start, start + batch_size)
                if order is None
                else order[start : start + batch_size]
            )
            yield batch_take(self.x, idx), self.y[idx]  # type: ignore[arg-type,index]

    def targets(self) -> Tensor:
        """All targets of the split, without keeping the inputs of a streamed split."""
        if self.y is None:
            self.y = torch.cat([yb for _, yb in self.batches(1024)])
        return self.y

    def tensors(self, max_samples: int | None = None) -> Batch:
        """(x, y) as tensors: the split itself, or the first `max_samples` streamed samples."""
        if self.in_memory:
            if max_samples is None:
                return self.x, self.y  # type: ignore[return-value]
            return batch_take(self.x, slice(0, max_samples)), self.y[:max_samples]  # type: ignore[arg-type,index]
        xs, ys, seen = [], [], 0
        for xb, yb in self.batches(min(256, max_samples or 256)):
            xs.append(xb)
            ys.append(yb)
            seen += batch_len(xb)
            if max_samples is not None and seen >= max_samples:
                break
        x, y = batch_cat(xs), torch.cat(ys)
        if max_samples is None:
            return x, y
        return batch_take(x, slice(0, max_samples)), y[:max_samples]

    def map(self, fn: Callable[[Tensor], Tensor]) -> Split:
        """A new in-memory split with `fn` applied to x (e.g. normalisation)."""
        x, y = self.tensors()
        return Split(fn(x), y, index=self.index)
