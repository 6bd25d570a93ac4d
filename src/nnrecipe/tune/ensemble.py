"""`nr.ensemble`: average the predictions of the top-K trials' models (the last squeeze).

Classification averages probabilities (not logits: a confident wrong member is outvoted, not
amplified); regression averages outputs. Members are the best complete, feasible trials by
validation error, so choosing them looks only at validation; the gain over the best single
model is measured on the splits asked for (validation by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.data import Data
from nnrecipe.data.batch import call_model
from nnrecipe.errors import ConfigError
from nnrecipe.tasks import Task
from nnrecipe.train.checkpoint import load_tensors
from nnrecipe.train.saved import build_from_meta, load_weights
from nnrecipe.tune.objective import error_of


class EnsembleModel(nn.Module):
    """Averages its members the task's way (`Task.average`): for classification the log of the
    mean class probabilities (so ``softmax`` of the output gives them back and the task's
    metrics apply unchanged), for regression the mean output."""

    def __init__(self, models: list[nn.Module], *, task: Task) -> None:
        super().__init__()
        self.members = nn.ModuleList(models)
        self.task = task

    def forward(self, *x: Any, **named: Any) -> Tensor:
        return self.task.average([m(*x, **named) for m in self.members])


@dataclass
class EnsembleResult:
    """The ensemble, its members (trial numbers), and scores against the best single model.

    ``gain[split]`` is the best single model's error minus the ensemble's (positive: better).
    """

    model: EnsembleModel
    members: list[int]
    scores: dict[str, dict[str, dict[str, float]]]
    gain: dict[str, float]
    missing: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": len(self.members),
            "members": self.members,
            "scores": self.scores,
            "gain": self.gain,
            "missing": self.missing,
        }


def _ranked_trials(folder: Path) -> list[dict[str, Any]]:
    path = folder / "tune.json"
    if not path.exists():
        raise ConfigError(
            f"No tune.json in {str(folder)!r}: pass the folder of a finished `nnrecipe tune`."
        )
    trials = json.loads(path.read_text())["trials"]
    done = [
        t for t in trials if t["state"] == "complete" and t["feasible"] and t["value"] is not None
    ]
    return sorted(done, key=lambda t: (t["value"], t["number"]))


def load_trial_model(
    folder: Path, number: int, data: Data, factory: Any = None
) -> nn.Module | None:
    """The trained model of one trial (None when its file is not on this machine)."""

    path = Path(folder) / "trials" / f"{number:04d}.safetensors"
    if not path.exists():
        return None
    tensors, meta = load_tensors(path)
    if meta.get("model") == "custom":
        if factory is None:
            raise ConfigError(
                f"Trial {number} used a custom model: pass the TuneResult (it keeps the factory)."
            )
        model = factory(meta["params"])
    else:
        model = build_from_meta(meta, data)
    return load_weights(model, tensors, path).eval()


@torch.no_grad()
def score_model(model: nn.Module, data: Data, split: str) -> dict[str, float]:

    s = data.splits[split]
    outs, ys = [], []
    for xb, yb in s.batches(512):
        outs.append(call_model(model, xb).float())
        ys.append(yb)
    metrics = data.task.metrics(torch.cat(outs), torch.cat(ys))
    metrics["error"] = error_of(data.task, metrics)
    return metrics


def ensemble(
    source: Any,
    *,
    k: int = 5,
    data: Data | None = None,
    splits: tuple[str, ...] = ("valid",),
) -> EnsembleResult:
    """Average the top-`k` trials of a search and score the ensemble against the best single.

    Args:
        source: a `TuneResult` or a tune folder (with ``tune.json`` and ``trials/``).
        k: number of members (fewer if fewer trials finished).
        data: the data the search ran on (taken from a `TuneResult` when not given).
        splits: where to score; the test split only when you mean to spend a look at it.

    Returns:
        An `EnsembleResult`: the `EnsembleModel`, member trial numbers, scores per split for
        ``ensemble`` and ``best_single``, and the gain (error reduction) per split.

    Raises:
        ConfigError: no finished trial, or `k` < 1.
    """
    if k < 1:
        raise ConfigError(f"An ensemble needs k >= 1 members, got {k}.")
    folder = Path(getattr(source, "folder", source))
    data = data if data is not None else getattr(source, "data", None)
    if data is None:
        raise ConfigError("Pass data=... (the data the search ran on) to ensemble a tune folder.")
    factory = getattr(source, "model", None)
    factory = factory if callable(factory) else None
    models, members, missing = [], [], []
    for t in _ranked_trials(folder):
        if len(models) == k:
            break
        m = load_trial_model(folder, t["number"], data, factory)
        if m is None:
            missing.append(t["number"])
            continue
        models.append(m)
        members.append(t["number"])
    if not models:
        raise ConfigError(
            f"No trained trial model found in {str(folder / 'trials')!r}: "
            "the search has no complete, feasible trial on this machine."
        )
    ens = EnsembleModel(models, task=data.task).eval()
    scores: dict[str, dict[str, dict[str, float]]] = {}
    gain: dict[str, float] = {}
    for split in splits:
        if split not in data.splits:
            continue
        scores[split] = {
            "ensemble": score_model(ens, data, split),
            "best_single": score_model(models[0], data, split),
        }
        gain[split] = scores[split]["best_single"]["error"] - scores[split]["ensemble"]["error"]
    return EnsembleResult(ens, members, scores, gain, missing)
