"""What the stages of `nnrecipe run` share: the `RunContext`, the `Stage` record and the error
a stage raises when it found errors in the user's data or model."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from nnrecipe.config import RunConfig
from nnrecipe.data import Data
from nnrecipe.errors import ModelError, NnrecipeError
from nnrecipe.findings import Finding, Result, Severity
from nnrecipe.models import build_model

# Findings that mean the input itself cannot be read: exit code 2 wherever they stop a command.
INPUT_ERROR_CODES = frozenset({"corrupt-sample"})


class StageError(NnrecipeError):
    """A stage found errors in the user's data or model (the run stops unless forced)."""

    # The policy of every command: 0 fine, 1 the audit or the checks found errors in data or
    # model, 2 the user's input cannot be used (bad path, bad config, unreadable files).
    exit_code = 1

    def __init__(self, message: str, *, codes: set[str] | frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        if codes & INPUT_ERROR_CODES:
            self.exit_code = 2


@dataclass
class RunContext:
    """What the stages share. Each stage reads the typed results earlier stages left in
    `results` and returns its own."""

    config: RunConfig
    data: Data
    dir: Path  # the temporary folder being written
    final_dir: Path
    resume: bool = False
    quiet: bool = False
    reshard: bool = False  # resume a checkpoint written by another number of processes
    results: dict[str, BaseModel] = field(default_factory=dict)  # stage name -> typed result
    findings: list[Finding] = field(default_factory=list)
    model: Any = None
    learner: Any = None
    say: Callable[[str], None] = print
    # The user's own model (an nn.Module in its initial state, or ``fn(data) -> nn.Module``).
    user_model: Any = None
    tracker: Any = None  # nnrecipe.tracking.Tracker of `--log`, fed by the train stage

    def result(self, name: str) -> Any:
        """The typed result of an earlier stage, or None when it did not run."""
        return self.results.get(name)

    def new_model(self, options: dict[str, Any]) -> nn.Module:
        """A fresh model in its initial state: a copy of the user's, the user's factory's, or the
        built-in one with `options`. Seeded, so every stage starts from the same weights."""
        torch.manual_seed(self.config.seed)
        if isinstance(self.user_model, nn.Module):
            return copy.deepcopy(self.user_model)
        if self.user_model is not None:
            model = self.user_model(self.data)
            if not isinstance(model, nn.Module):
                raise ModelError(
                    f"The model factory returned {type(model).__name__}, not a torch.nn.Module: "
                    "pass a function data -> nn.Module, or the module itself."
                )
            return model
        return build_model(self.config.model, self.data, **options)

    def stop_on_errors(self, stage: str, result: Result) -> None:
        """Stop the run when a stage found errors, unless ``force``."""
        errors = result.at_least(Severity.ERROR)
        if errors and not self.config.force:
            codes = ", ".join(sorted({f.code for f in errors}))
            raise StageError(
                f"The {stage} found errors ({codes}): {errors[0].message} Fix them, or pass --force "
                f"to train anyway; `nnrecipe {stage if stage != 'checks' else 'check'} {self.config.data}` "
                "shows the details.",
                codes={f.code for f in errors},
            )


@dataclass
class Stage:
    name: str
    fn: Callable[[RunContext], BaseModel | None]
    # A resumed run reuses a resumable stage's saved result instead of running it again.
    resumable: bool = False
