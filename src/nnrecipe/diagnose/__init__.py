"""Diagnosis: Ng's bias / variance / data-mismatch analysis and the locked test set.
Light: nothing heavy is imported until `diagnose` runs."""

from nnrecipe._lazy import exports

__all__ = ["diagnose", "table_text"]
__getattr__, __dir__ = exports(
    __name__, {"diagnose": "nnrecipe.diagnose.core", "table_text": "nnrecipe.diagnose.core"}
)
