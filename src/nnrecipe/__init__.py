"""nnrecipe: neural-network training that fails loudly instead of silently.

The public API is a handful of verbs on plain PyTorch objects::

    import nnrecipe as nr
    data = nr.datasets.load("digits")            # or nr.Data.from_arrays(x, y), from_folder, from_csv
    nr.audit(data)                                # become one with the data
    nr.check(model, data)                         # sanity checks before spending compute
    learner = nr.Learner(model, data); learner.fit(epochs=20)
    nr.run("digits")                              # the whole recipe, into a run folder

Heavy modules (matplotlib, optuna, cleanlab, scikit-learn) load only inside the verbs that need
them, and torch on the first use of a verb or noun that needs it, so ``import nnrecipe`` and the
``nnrecipe`` command start fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Idle OpenMP threads sleep instead of spin-waiting (read when torch's OpenMP runtime starts, so
# only effective when nnrecipe is imported before torch, as the CLI does). Measured on a loaded
# 2-core machine: an MNIST-1D CNN took 22.7 s on two spinning threads, 4.9 s with PASSIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nnrecipe._lazy import exports  # noqa: E402
from nnrecipe.errors import ConfigError, DataError, ModelError, NnrecipeError, TrainingError  # noqa: E402
from nnrecipe.findings import Finding, Result, Severity, explain  # noqa: E402

__version__ = "0.1.0"

_EXPORTS = {
    "Data": "nnrecipe.data",
    "Learner": "nnrecipe.train",
    "fit": "nnrecipe.train",
    "audit": "nnrecipe.audit",
    "check": "nnrecipe.checks",
    "diagnose": "nnrecipe.diagnose",
    "baselines": "nnrecipe.models.baselines",
    "run": "nnrecipe.recipe",
    "list_runs": "nnrecipe.runs",
    "load": "nnrecipe.predictor",
    "Predictor": "nnrecipe.predictor",
    "report": "nnrecipe.report",
    "tune": "nnrecipe.tune",
    "ensemble": "nnrecipe.tune",
    "watch": "nnrecipe.watch",
}


_getattr, __dir__ = exports(__name__, _EXPORTS)

__all__ = [
    "Data",
    "Learner",
    "fit",
    "run",
    "list_runs",
    "load",
    "Predictor",
    "report",
    "audit",
    "check",
    "baselines",
    "tune",
    "ensemble",
    "diagnose",
    "watch",
    "explain",
    "datasets",
    "Finding",
    "Result",
    "Severity",
    "NnrecipeError",
    "DataError",
    "ConfigError",
    "ModelError",
    "TrainingError",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return _getattr(name)
    if name == "datasets" or name in _MODULES:
        return importlib.import_module(f"nnrecipe.{name}")
    raise AttributeError(f"module 'nnrecipe' has no attribute {name!r}")


# Modules reachable as attributes once imported, as before (``nr.pipeline.RunResult``).
_MODULES = ("pipeline", "config", "data", "models", "tasks", "train", "checks", "threads")
