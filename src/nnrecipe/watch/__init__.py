"""Watching the user's own training loop: ``with nr.watch(model) as w: ...`` finds the silent
bugs that live in the loop (missing ``zero_grad``, validation in train mode, a per-epoch
scheduler stepped per batch, augmented validation data, ...).

One small function per finding code (see `codes.py`), all reading one `Recorder`.
"""

from __future__ import annotations

from nnrecipe._lazy import exports

# Loaded on first use, so that `nnrecipe explain` reads watch/codes.py without torch.
__getattr__, __dir__ = exports(
    __name__, {"watch": "nnrecipe.watch.api", "Watcher": "nnrecipe.watch.api"}
)

__all__ = ["watch", "Watcher"]
