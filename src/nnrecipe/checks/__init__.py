"""Sanity checks before training: ``nr.check(model, data)`` finds the silent bugs.

One small function per finding code (see `codes.py`), all reading one `Context`; the probes
they share (a forward/backward at init, a few optimizer steps, a learning-rate range test,
overfitting one batch, real vs zeroed inputs) run once, on copies of the model.
"""

from __future__ import annotations

from nnrecipe._lazy import exports

__all__ = ["check"]
__getattr__, __dir__ = exports(__name__, {"check": "nnrecipe.checks.run"})
