"""Tuning: Optuna search with pruning and constraints (`tune`), ensembles (`ensemble`),
augmentation by modality. Light: optuna is imported inside the verbs."""

from nnrecipe.tune.ensemble import EnsembleModel, EnsembleResult, ensemble
from nnrecipe.tune.search import TuneResult, tune

__all__ = ["tune", "ensemble", "TuneResult", "EnsembleResult", "EnsembleModel"]
