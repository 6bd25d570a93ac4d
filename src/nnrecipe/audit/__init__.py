"""Become one with the data: `nr.audit` scans every split before any model is trained.

Light on purpose: the heavy modules (scikit-learn, cleanlab, matplotlib) load inside the verb,
and the verb's own module (torch) on first use.
"""

from nnrecipe._lazy import exports

__all__ = ["audit"]
__getattr__, __dir__ = exports(__name__, {"audit": "nnrecipe.audit.api"})
