"""Built-in data sets: ``nr.datasets.load("digits")``."""

from nnrecipe.data.builtin import load, names

__all__ = ["load", "names"]
