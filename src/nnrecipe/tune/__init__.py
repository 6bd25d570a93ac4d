"""Tuning: Optuna search with pruning and constraints (`tune`), ensembles (`ensemble`),
augmentation by modality. Light: optuna is imported inside the verbs."""

from nnrecipe._lazy import exports

__all__ = ["tune", "ensemble", "TuneResult", "EnsembleResult", "EnsembleModel"]
__getattr__, __dir__ = exports(
    __name__,
    {
        "tune": "nnrecipe.tune.search",
        "TuneResult": "nnrecipe.tune.search",
        "ensemble": "nnrecipe.tune.ensemble",
        "EnsembleResult": "nnrecipe.tune.ensemble",
        "EnsembleModel": "nnrecipe.tune.ensemble",
    },
)
