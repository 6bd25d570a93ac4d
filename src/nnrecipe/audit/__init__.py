"""Become one with the data: `nr.audit` scans every split before any model is trained.

Light on purpose: the heavy modules (scikit-learn, cleanlab, matplotlib) load inside the verb.
"""

from nnrecipe.audit.api import audit

__all__ = ["audit"]
