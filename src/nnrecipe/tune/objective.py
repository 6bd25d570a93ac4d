"""One trial: build a model from the trial's settings, check the satisficing constraints, train
with pruning, and return the validation error (the single optimizing metric).

Satisficing metrics are constraints, not objectives (Ng): parameter count, measured inference
latency per sample, and any user callable. Parameters and latency are known before training, so
a trial that violates them is recorded as infeasible and pruned at once (no compute spent); a
user callable is evaluated on the trained model and recorded with ``trial.set_constraint`` so
Optuna never returns it as best. The test split is never touched.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnrecipe.data import Data
from nnrecipe.errors import ModelError, TrainingError
from nnrecipe.models import build_model
from nnrecipe.train import Learner
from nnrecipe.train.checkpoint import save_model
from nnrecipe.tune.augment import make_augment
from nnrecipe.tune.space import split_params, suggest
from nnrecipe.tune.study import counted_states

# Latency: median of this many single-sample forward passes, after warm-up passes.
LATENCY_REPEATS, LATENCY_WARMUP = 30, 5

# A user constraint: name -> (fn(trained model, params) -> value, maximum allowed value).
UserConstraints = dict[str, tuple[Callable[[nn.Module, dict[str, Any]], float], float]]


class SurplusTrial(Exception):
    """The study already holds the requested number of trials (another worker got there first)."""


def error_of(task: Any, metrics: dict[str, float]) -> float:
    """The error to minimise from a task's metrics: classification error, else the primary
    metric (rmse for regression), turned around when higher is better."""
    if "error" in metrics:
        return float(metrics["error"])
    value = float(metrics[task.primary_metric])
    return 1.0 - value if task.higher_is_better else value


@torch.no_grad()
def latency_ms(model: nn.Module, data: Data) -> float:
    """Median wall-clock milliseconds for one sample through `model` (eval mode, CPU, 1 thread
    is what the caller set)."""
    x = data.valid.tensors(max_samples=1)[0]
    was = model.training
    model.eval()
    for _ in range(LATENCY_WARMUP):
        model(x)
    times = []
    for _ in range(LATENCY_REPEATS):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    model.train(was)
    return 1000 * statistics.median(times)


def trial_seed(study_seed: int, params: dict[str, Any]) -> int:
    """A trial's training seed from the study's seed and the trial's parameters (stable across
    processes and Python versions: a hash of their JSON)."""
    text = json.dumps({"seed": study_seed, "params": params}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


class PruneOnEpoch:
    """Learner callback: report each epoch's validation error to Optuna; stop hopeless trials."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_epoch_end(self, learner: Any) -> None:
        import optuna

        record = learner.history[-1]
        metrics = {k[6:]: v for k, v in record.items() if k.startswith("valid_")}
        self.trial.report(error_of(learner.task, metrics), record["epoch"])
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {record['epoch']}")


@dataclass
class Objective:
    """The function Optuna calls per trial (picklable, so worker processes can run it)."""

    data: Data
    space: Any  # a dict space or a function trial -> params
    model: str | Callable[..., nn.Module] | None
    epochs: int
    folder: Path | None = None  # trained models go to folder/trials/NNNN.safetensors
    budget: int | None = None  # total trials of the study (several workers share it)
    base: dict[str, Any] = field(default_factory=dict)  # fixed Learner settings (schedule, ...)
    max_params: int | None = None
    max_latency_ms: float | None = None
    constraints: UserConstraints | None = None
    seed: int = 0
    threads: int = 1

    def __call__(self, trial: Any) -> float:
        import optuna

        self._check_budget(trial)
        torch.set_num_threads(self.threads)
        params = (
            suggest(trial, self.space) if isinstance(self.space, dict) else dict(self.space(trial))
        )
        training, options = split_params(params)
        # The seed follows the trial's parameters, not its number: a killed trial retried under
        # a new number after a resume trains exactly as it would have in the uninterrupted study.
        seed = trial_seed(self.seed, params)
        trial.set_user_attr("seed", seed)
        torch.manual_seed(seed)  # initial weights differ between trials
        model = self._build(options, params)
        n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        trial.set_user_attr("parameters", n_params)
        violations = []
        if self.max_params is not None:
            trial.set_constraint("max_params", n_params - self.max_params)
            if n_params > self.max_params:
                violations.append(f"{n_params} parameters > {self.max_params}")
        if self.max_latency_ms is not None:
            ms = latency_ms(model, self.data)
            trial.set_user_attr("latency_ms", ms)
            trial.set_constraint("max_latency_ms", ms - self.max_latency_ms)
            if ms > self.max_latency_ms:
                violations.append(f"latency {ms:.3f} ms > {self.max_latency_ms} ms")
        if violations:
            trial.set_user_attr("infeasible", "; ".join(violations))
            raise optuna.TrialPruned("infeasible: " + "; ".join(violations))
        learner = self._learner(model, training, trial, seed)
        try:
            learner.fit(self.epochs)
        except TrainingError as e:  # diverged (NaN loss): a bad setting, not a broken program
            trial.set_user_attr("diverged", str(e))
            raise optuna.TrialPruned("diverged") from None
        value = error_of(learner.task, learner.evaluate("valid"))
        trial.set_user_attr("epochs_run", len(learner.history))
        for name, (fn, limit) in (self.constraints or {}).items():
            measured = float(fn(model, params))
            trial.set_user_attr(f"constraint_{name}", measured)
            trial.set_constraint(name, measured - limit)
        if self.folder is not None:
            save_model(
                Path(self.folder) / "trials" / f"{trial.number:04d}.safetensors",
                model,
                {
                    "model": self.model if isinstance(self.model, str | None) else "custom",
                    "options": options,
                    "params": params,
                    "value": value,
                },
            )
        return value

    def _check_budget(self, trial: Any) -> None:
        """Several workers (maybe on several machines) share one budget of trials: a trial
        numbered past it, counting only trials that finished or are running, is surplus."""
        if self.budget is None:
            return

        earlier = [
            t
            for t in trial.study.get_trials(deepcopy=False, states=counted_states())
            if t.number < trial.number
        ]
        if len(earlier) >= self.budget:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"the study already has {self.budget} trials")

    def _build(self, options: dict[str, Any], params: dict[str, Any]) -> nn.Module:

        if callable(self.model):
            model = self.model(params)
            if not isinstance(model, nn.Module):
                raise ModelError(
                    f"The model factory returned {type(model).__name__}, expected a torch.nn.Module."
                )
            return model
        return build_model(self.model, self.data, **options)

    def train(self, params: dict[str, Any], *, seed: int) -> Any:
        """Train `params` once more outside the study (no pruning) with `seed`: the same build
        and Learner as a trial; returns the fitted Learner (best epoch's weights restored)."""
        torch.set_num_threads(self.threads)
        training, options = split_params(params)
        torch.manual_seed(seed)
        learner = self._learner(self._build(options, params), training, None, seed)
        learner.fit(self.epochs)
        return learner

    def _learner(
        self, model: nn.Module, training: dict[str, Any], trial: Any | None, seed: int
    ) -> Any:

        settings = {**self.base, **{k: v for k, v in training.items() if k != "augment"}}
        strength = training.get("augment", self.base.get("augment"))
        settings.pop("augment", None)
        return Learner(
            model,
            self.data,
            **settings,
            seed=seed,
            threads=self.threads,
            augment=make_augment(self.data.modality, strength, task=self.data.task),
            callbacks=[PruneOnEpoch(trial)] if trial is not None else [],
            quiet=True,
        )
