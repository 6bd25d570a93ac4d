"""The stages of `nnrecipe run`, one home each, in the order they run.

Each stage is a function ``RunContext -> typed result`` (`nnrecipe.schema`); the pipeline saves
the result as ``stages/NAME.json``. The report stage is added by `nnrecipe.recipe`, the layer
above the report.
"""

from __future__ import annotations

from nnrecipe.stages.context import RunContext, Stage, StageError
from nnrecipe.stages.data_stages import stage_audit, stage_baselines, stage_checks
from nnrecipe.stages.diagnose import stage_diagnose
from nnrecipe.stages.training import stage_evaluate, stage_plots, stage_train
from nnrecipe.stages.tune import stage_ensemble, stage_tune

STAGES: list[Stage] = [
    Stage("audit", stage_audit, resumable=True),  # first: errors in the data stop the run
    Stage("baselines", stage_baselines, resumable=True),
    Stage("checks", stage_checks, resumable=True),  # before any compute is spent on training
    Stage("tune", stage_tune, resumable=True),  # the study itself resumes from its SQLite file
    Stage("train", stage_train),
    Stage("evaluate", stage_evaluate),
    Stage("ensemble", stage_ensemble),
    Stage("plots", stage_plots),
    Stage("diagnose", stage_diagnose),
]

__all__ = ["STAGES", "RunContext", "Stage", "StageError"]
