"""``python -m nnrecipe ...`` (and ``torchrun ... -m nnrecipe run DATA``): the `nnrecipe` command."""

from nnrecipe.cli import main

main()
