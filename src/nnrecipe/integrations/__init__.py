"""Integrations with training frameworks. Each lives in its own module and imports its framework
there, so ``import nnrecipe`` never imports them: ``from nnrecipe.integrations.lightning import
Watch`` needs ``pip install nnrecipe[lightning]``."""
