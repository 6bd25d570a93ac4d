"""Progress output: rich bars on a terminal, silent when not a TTY or when quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress bar of nnrecipe."""
    global _QUIET
    _QUIET = quiet


def enabled() -> bool:
    return not _QUIET and sys.stderr.isatty()


def progress_iter(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar when interactive (at least 50 items), plainly otherwise."""
    seq = list(items) if total is None and not hasattr(items, "__len__") else items
    n = total if total is not None else len(seq)  # type: ignore[arg-type]
    if not enabled() or n < 50:
        yield from seq
        return
    from rich.progress import track

    yield from track(seq, description=description, total=n, transient=True)
