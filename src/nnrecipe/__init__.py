"""nnrecipe: neural-network training that fails loudly instead of silently.

The public API is a handful of verbs on plain PyTorch objects::

    import nnrecipe as nr
    data = nr.datasets.load("digits")            # or nr.Data.from_arrays(x, y), from_folder, from_csv
    nr.audit(data)                                # become one with the data
    nr.check(model, data)                         # sanity checks before spending compute
    learner = nr.Learner(model, data); learner.fit(epochs=20)
    nr.run("digits")                              # the whole recipe, into a run folder

Heavy modules (matplotlib, optuna, cleanlab, scikit-learn) load only inside the verbs that need
them, so ``import nnrecipe`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Idle OpenMP threads sleep instead of spin-waiting (read when torch's OpenMP runtime starts, so
# only effective when nnrecipe is imported before torch, as the CLI does). Measured on a loaded
# 2-core machine: an MNIST-1D CNN took 22.7 s on two spinning threads, 4.9 s with PASSIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nnrecipe.data import Data
from nnrecipe.errors import ConfigError, DataError, ModelError, NnrecipeError, TrainingError
from nnrecipe.findings import Finding, Result, Severity, explain
from nnrecipe.train import Learner, fit

__version__ = "0.1.0"

# Each stage package exports its verb from a light module (heavy imports inside the verb), so
# these imports keep `import nnrecipe` fast. `from ... import` rebinds the package name to the
# verb: `nr.audit` is the function, `nnrecipe.audit.*` the modules.
from nnrecipe.audit import audit  # noqa: E402
from nnrecipe.checks import check  # noqa: E402
from nnrecipe.diagnose import diagnose  # noqa: E402
from nnrecipe.models.baselines import baselines  # noqa: E402
from nnrecipe.predictor import Predictor, load  # noqa: E402
from nnrecipe.recipe import run  # noqa: E402
from nnrecipe.report import report  # noqa: E402
from nnrecipe.tune import ensemble, tune  # noqa: E402
from nnrecipe.watch import watch  # noqa: E402

__all__ = [
    "Data",
    "Learner",
    "fit",
    "run",
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
    if name == "datasets":
        return importlib.import_module("nnrecipe.datasets")
    raise AttributeError(f"module 'nnrecipe' has no attribute {name!r}")
