"""Data: splits in memory or streamed, from arrays, Datasets, image folders, CSV, built-ins."""

from nnrecipe.data.core import Data, split_indices
from nnrecipe.data.split import Split

__all__ = ["Data", "Split", "split_indices"]
