"""Watching the user's own training loop: ``with nr.watch(model) as w: ...`` finds the silent
bugs that live in the loop (missing ``zero_grad``, validation in train mode, a per-epoch
scheduler stepped per batch, augmented validation data, ...).

One small function per finding code (see `codes.py`), all reading one `Recorder`.
"""

from __future__ import annotations

from nnrecipe.watch.api import Watcher, watch

__all__ = ["watch", "Watcher"]
