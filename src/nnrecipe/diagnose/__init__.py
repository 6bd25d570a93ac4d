"""Diagnosis: Ng's bias / variance / data-mismatch analysis and the locked test set.
Light: nothing heavy is imported until `diagnose` runs."""

from nnrecipe.diagnose.core import diagnose, table_text

__all__ = ["diagnose", "table_text"]
