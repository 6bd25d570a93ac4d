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


def in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel (rich draws live progress there too)."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and "ZMQInteractiveShell" in type(ip).__name__


def mode() -> str:
    """How progress is shown: "bar" (a terminal or a notebook), "lines" (one line per epoch,
    for logs and CI), or "off" (quiet)."""
    if _QUIET:
        return "off"
    return "bar" if sys.stderr.isatty() or in_notebook() else "lines"


def enabled() -> bool:
    """Whether live progress bars are drawn."""
    return mode() == "bar"


def line(text: str) -> None:
    """One progress line on stderr, flushed (for logs: nothing waits for the end of the run)."""
    if mode() == "off":
        return
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError):
        pass


def progress_iter(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar when interactive (at least 50 items), plainly otherwise."""
    seq = list(items) if total is None and not hasattr(items, "__len__") else items
    n = total if total is not None else len(seq)  # type: ignore[arg-type]
    if not enabled() or n < 50:
        yield from seq
        return
    from rich.progress import track

    yield from track(seq, description=description, total=n, transient=True)
