"""The end of a search: a tune folder that can be used like a run folder.

After the trials, the best trial's settings become a trained model in the tune folder
(``model.safetensors``, ``config.json``, ``summary.json``), so `nr.load(folder)`,
``nnrecipe predict`` and ``nnrecipe diagnose`` take it. The best trial's own model is kept: a
trial trains from a seed derived from its parameters, and retraining those parameters with that
seed gives the same weights bit for bit (measured on CPU, one thread: blobs MLP, 3 epochs,
every tensor equal), so training it again would only cost time. Only when the file is missing
(a trial trained elsewhere on a shared storage) is it trained again.

The noise of the validation score: the best settings are trained again with `repeats` other
seeds. The spread of their validation errors is how much of a difference between two trials is
luck of the initialisation; the best trial's own error is the minimum over many tries and so
optimistic (the winner's curse), the re-seeded mean is the honest estimate.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from nnrecipe.config import make_config
from nnrecipe.io import atomic_write_json
from nnrecipe.schema import SCHEMA_VERSION, Summary
from nnrecipe.train import Learner
from nnrecipe.train.checkpoint import load_tensors, save_model
from nnrecipe.train.saved import load_weights
from nnrecipe.tune.objective import error_of, trial_seed
from nnrecipe.tune.space import split_params
from nnrecipe.versions import versions

# Extra trainings of the best settings, with other seeds, to measure the noise of the score.
REPEATS = 3
# Differences between trials smaller than this many standard deviations of the re-seeded
# errors are not told apart (about 95% two-sided).
Z = 2.0


def _final_model(result: Any, objective: Any, trial: dict[str, Any]) -> tuple[Any, bool]:
    """The best trial's trained model (kept from its file, else trained again): (model, kept)."""
    params = trial["params"]
    path = Path(result.folder) / "trials" / f"{trial['number']:04d}.safetensors"
    if path.is_file():
        tensors, _ = load_tensors(path)
        _, options = split_params(params)
        return load_weights(objective._build(options, params), tensors, path).eval(), True
    learner = objective.train(params, seed=_seed(objective, trial))
    return learner.model.eval(), False


def _seed(objective: Any, trial: dict[str, Any]) -> int:
    return int(trial.get("seed") or trial_seed(objective.seed, trial["params"]))


def measure_noise(
    objective: Any, trial: dict[str, Any], *, repeats: int, say: Any = None
) -> dict[str, Any]:
    """Valid errors of the best settings trained with `repeats` new seeds, and their spread."""
    data = objective.data
    seeds, errors = [], []
    for r in range(repeats):
        seed = trial_seed(objective.seed, {**trial["params"], "repeat": r + 1})
        if say is not None:
            say(f"noise: training the best settings again with seed {seed} ({r + 1} of {repeats})")
        learner = objective.train(trial["params"], seed=seed)
        seeds.append(seed)
        errors.append(error_of(data.task, learner.evaluate("valid")))
    out: dict[str, Any] = {
        "best_trial_error": trial["value"],
        "seeds": seeds,
        "reseeded_errors": errors,
        "sd": None,
        "reseeded_mean": statistics.fmean(errors) if errors else None,
        "n_valid": len(data.valid) if "valid" in data.splits else None,
    }
    if len(errors) > 1:
        # Over the re-seeded trainings only: the best trial's own error was selected for being
        # low (the minimum of the search), so it would not be a fair draw of the same noise.
        out["sd"] = statistics.stdev(errors)
    return out


def earlier_final(folder: Path) -> dict[str, Any]:
    """What an earlier hand-off in `folder` ended with (read before tune.json is rewritten)."""
    import json

    try:
        return json.loads((Path(folder) / "tune.json").read_text()).get("final") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _earlier_noise(
    earlier: dict[str, Any], trial: dict[str, Any], repeats: int
) -> dict[str, Any] | None:
    """The noise measured by an earlier hand-off of the same best trial (a resumed search
    whose best did not change), so that rerunning `nnrecipe tune` does not train it again."""
    noise = earlier.get("noise") or {}
    if (
        earlier.get("trial") == trial["number"]
        and earlier.get("params") == trial["params"]
        and len(noise.get("reseeded_errors") or []) == repeats
    ):
        return noise
    return None


def sampling_se(task: Any, metrics: dict[str, float], n: int | None) -> float | None:
    """The binomial standard error of a classification error on `n` validation samples (how
    much another validation set of that size would move it); None for other tasks."""
    if "error" not in metrics or not n:
        return None
    e = float(metrics["error"])
    return math.sqrt(max(e * (1 - e), 0.0) / n)


def _close_trials(trials: list[dict[str, Any]], best: float, sd: float | None) -> int | None:
    if sd is None:
        return None
    return sum(
        1
        for t in trials
        if t["state"] == "complete" and t["feasible"] and t["value"] <= best + Z * sd
    )


def _own_space(objective: Any) -> dict[str, Any] | None:
    """The searched dict space when it is not the model's default (a run must name it)."""
    from nnrecipe.tune.space import DEFAULT_SPACES

    space = objective.space
    if not isinstance(space, dict) or space == DEFAULT_SPACES.get(objective.model):
        return None
    return space


def _config_files(
    result: Any,
    folder: Path,
    *,
    settings: dict[str, Any] | None,
    epochs: int,
    scores: dict[str, dict[str, float]],
    model_name: str,
    command: str | None,
    space: dict[str, Any] | None,
) -> str:
    """config.json and summary.json (as a run folder has them); returns the command that
    continues with a full run on the best settings."""
    data = result.data
    values = dict(settings) if settings is not None else {"data": data.name}
    cfg = make_config({k: v for k, v in values.items() if k != "out"})
    rerun = {
        **cfg.model_dump(),
        "out": None,
        "model": model_name if model_name != "custom" else None,
        "epochs": epochs,  # the budget each trial trained with
        "tune_trials": None,
        "tune_epochs": None,
        "tune_study_path": str(folder.resolve()),
        "tune_study": result.study_name,
    }
    saved: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "config": cfg.model_dump(),
        "versions": versions(),
        "seed": cfg.seed,
        "data": data.describe(),
        "user_data": settings is None,
        "user_model": model_name == "custom",
        "command": command or " ".join(sys.argv),
        "kind": "tune",
    }
    if settings is not None and model_name != "custom":
        saved["rerun"] = rerun
        nxt = f"nnrecipe run --config {folder / 'config.json'}"
    elif model_name != "custom":  # the user's own data: the same nr.Data again
        keys = ("data", "model", "epochs", "tune_study_path")
        call = {k: rerun[k] for k in keys}
        if space is not None:
            call["tune_space"] = space
        nxt = f"nr.run({call!r}, data=data)"
    else:
        nxt = "train your model on nr.tune(...).best_params (the study searched your own model)"
    atomic_write_json(folder / "config.json", saved)
    summary = Summary(
        **{k: v for k, v in scores.items() if k in ("train", "train_dev", "valid")},
        findings=[f.to_dict() for f in result.findings],
    )
    atomic_write_json(folder / "summary.json", summary.model_dump(mode="json"))
    return nxt


def hand_off(
    result: Any,
    objective: Any,
    *,
    settings: dict[str, Any] | None = None,
    repeats: int = REPEATS,
    command: str | None = None,
    quiet: bool = False,
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Make the tune folder usable: the best trial's model with a run's config.json and
    summary.json, and the noise of its validation score (report.html follows, from tune.json:
    `nnrecipe.tune.report.write_report`). Returns what the search
    ended with (``model``, ``kept``, ``scores``, ``noise``, ``next``, ``report``), or None when
    no trial finished. `earlier` is a previous hand-off's record (`earlier_final`): its noise
    is kept when the best trial is the same."""
    if result.best_trial is None:
        return None
    t0 = time.perf_counter()
    say = None if quiet else print
    folder = Path(result.folder)
    trial = next(t for t in result.trials if t["number"] == result.best_trial)
    model, kept = _final_model(result, objective, trial)
    training, options = split_params(trial["params"])
    model_name = objective.model if isinstance(objective.model, str) else "custom"
    data = objective.data
    learner = Learner(model, data, quiet=True, threads=objective.threads)
    splits = [s for s in ("train", "train_dev", "valid") if s in data.splits]
    scores = {s: learner.evaluate(s) for s in splits}
    settings_used = {**objective.base, **training}  # as the trial trained (Learner defaults else)
    save_model(
        folder / "model.safetensors",
        model,
        {
            "model": model_name,
            "options": options,
            "training": settings_used,
            "params": trial["params"],
            "trial": trial["number"],
        },
    )
    noise = _earlier_noise(earlier or {}, trial, repeats) or measure_noise(
        objective, trial, repeats=repeats, say=say
    )
    noise["sampling_se"] = sampling_se(data.task, scores.get("valid", {}), noise["n_valid"])
    noise["close_trials"] = _close_trials(result.trials, trial["value"], noise["sd"])
    nxt = _config_files(
        result,
        folder,
        settings=settings,
        epochs=objective.epochs,
        scores=scores,
        model_name=model_name,
        command=command,
        space=_own_space(objective),
    )
    final = {
        "model": "model.safetensors",
        "trial": trial["number"],
        "kept": kept,
        "params": trial["params"],
        "scores": scores,
        "noise": noise,
        "next": nxt,
        "seconds": time.perf_counter() - t0,
        "report": "report.html",  # written from tune.json once it records this hand-off
    }
    return final
