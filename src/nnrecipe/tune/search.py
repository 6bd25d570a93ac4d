"""`nr.tune`: hyperparameter search with Optuna, on one or several worker processes.

The study lives in a storage (by default SQLite ``study.db`` in the tune folder), so a killed
search resumes with every finished trial kept: run the same command (same ``out``) again.
``workers=N`` starts N processes on the one study; ``storage=URL`` lets workers on several
machines share a PostgreSQL database. The budget ``trials`` counts the study's finished trials
(complete or pruned) plus those running: however many workers join, the study ends with exactly
that many finished trials. The validation split is the only one looked at; test never is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrecipe.config import make_config
from nnrecipe.data import Data
from nnrecipe.data.resolve import resolve_data
from nnrecipe.errors import ConfigError
from nnrecipe.findings import Finding, Result
from nnrecipe.io import atomic_write_text
from nnrecipe.models import model_for
from nnrecipe.tune import checks
from nnrecipe.tune import study as st
from nnrecipe.tune.display import TrialsDisplay
from nnrecipe.tune.objective import Objective, UserConstraints
from nnrecipe.tune.space import default_space, grid, normalize_space
from nnrecipe.tune.study import feasible, ranked
from nnrecipe.tune.workers import shares, spawn, work

STUDY_NAME = "nnrecipe"


@dataclass
class TuneResult:
    """A finished search: best settings, every trial, and what was found.

    Attributes:
        folder: the tune folder (study.db, trained trial models in ``trials/``, tune.json).
        storage: the Optuna storage URL; ``study_name``: the study in it.
        best_params: the best feasible trial's settings ({} when none finished).
        best_value: its validation error; ``best_trial``: its number.
        trials: one dict per trial (number, state, value, params, parameters, ...).
        counts: trials per state.
        importance: Optuna's fANOVA importance of each knob (sums to 1), when computable.
        findings: problems with the search (no feasible trial, best at a range's edge, ...).
        final: the hand-off (`nnrecipe.tune.handoff`): the best trial's model saved as the tune
            folder's ``model.safetensors``, its scores, the noise of its validation error, the
            report and the command that continues (``next``); None when it did not run.
    """

    folder: Path
    storage: str
    study_name: str
    best_params: dict[str, Any]
    best_value: float | None
    best_trial: int | None
    trials: list[dict[str, Any]]
    counts: dict[str, int]
    importance: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    final: dict[str, Any] | None = None
    data: Any = field(default=None, repr=False)
    model: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "storage": self.storage,
            "study": self.study_name,
            "best_params": self.best_params,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "counts": self.counts,
            "importance": self.importance,
            "seconds": self.seconds,
            "findings": [f.to_dict() for f in self.findings],
            "trials": self.trials,
            "final": self.final,
        }

    def __str__(self) -> str:
        from rich.console import Console
        from rich.table import Table

        console = Console(width=120, record=True, force_terminal=False, color_system=None)
        table = Table(
            title=f"tune: {self.counts.get('complete', 0)} complete, "
            f"{self.counts.get('pruned', 0)} pruned in {self.seconds:.0f} s"
        )
        for col in ("rank", "#", "valid error", "params"):
            table.add_column(col, overflow="fold")
        done = [t for t in self.trials if t["state"] == "complete" and t["feasible"]]
        for i, t in enumerate(sorted(done, key=lambda t: t["value"])[:5]):
            params = ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in t["params"].items()
            )
            table.add_row(str(i + 1), str(t["number"]), f"{t['value']:.4f}", params)
        with console.capture() as cap:
            console.print(table)
            if self.importance:
                console.print(
                    "importance: " + ", ".join(f"{k} {v:.2f}" for k, v in self.importance.items())
                )
            if self.findings:
                console.print(Result(self.findings, stage="tune").table())
            noise = (self.final or {}).get("noise") or {}
            if noise.get("sd") is not None:
                console.print(
                    f"noise: the best settings' valid error varies by sd {noise['sd']:.4f} over "
                    f"{len(noise['reseeded_errors'])} new seeds (mean "
                    f"{noise['reseeded_mean']:.4f} vs the best trial's {noise['best_trial_error']:.4f}; "
                    f"{noise['close_trials']} trial(s) within 2 sd of the best)"
                )
        return cap.get()


def _resolve(data: Any) -> Data:
    if isinstance(data, str | Path):
        return resolve_data(make_config({"data": str(data)}))
    return Data.coerce(data)


def tune(
    data: Data | tuple | str,
    *,
    trials: int = 20,
    sampler: str = "tpe",
    pruner: str = "median",
    workers: int = 1,
    storage: str | None = None,
    study: str | None = None,
    out: str | Path | None = None,
    model: str | Callable[[dict[str, Any]], Any] | None = None,
    space: dict[str, Any] | Callable[[Any], dict[str, Any]] | None = None,
    epochs: int = 20,
    max_params: int | None = None,
    max_latency_ms: float | None = None,
    constraints: UserConstraints | None = None,
    base: dict[str, Any] | None = None,
    seed: int = 0,
    threads: int = 1,
    min_complete: int = 5,
    quiet: bool = False,
    final: bool = True,
    repeats: int = 3,
    settings: dict[str, Any] | None = None,
    command: str | None = None,
) -> TuneResult:
    """Search hyperparameters with Optuna: TPE (default), random or grid, pruning hopeless trials.

    Args:
        data: an `nr.Data`, a tuple of arrays, or a built-in data set name.
        trials: the study's total number of finished trials (earlier sessions count).
        sampler: ``"tpe"``, ``"random"`` or ``"grid"``; pruner: ``"median"``, ``"hyperband"``,
            ``"none"``.
        workers: processes on this machine sharing the study.
        storage: an Optuna storage URL (default: SQLite in `out`); study: its study name.
        out: the tune folder (default ``runs/tune-<data>-<time>``); the same folder resumes.
        model: a built-in model name, or ``fn(params) -> nn.Module`` (then give `space`).
        space: a dict space (see `nnrecipe.tune.space`) or ``fn(trial) -> params``.
        epochs: maximum epochs per trial (early stopping and pruning cut most short).
        max_params, max_latency_ms: satisficing constraints (a violating trial cannot win).
        constraints: ``{name: (fn(model, params) -> value, max_value)}`` evaluated after training.
        base: fixed Learner settings (``schedule``, ``clip``, ``patience``, ``lr``, ...).
        seed: seeds the sampler and, with the trial number, each trial's training.
        threads: torch threads per worker.
        min_complete: trials that run to the end before pruning starts (an ensemble of K
            needs K complete trials).
        final: hand off at the end: save the best trial's model in `out` with a run's
            config.json and summary.json (so `nr.load(out)`, ``nnrecipe predict`` and
            ``nnrecipe diagnose`` take the folder), measure the noise and write report.html.
        repeats: trainings of the best settings with other seeds, for the noise of its score.
        settings: the run settings that name the data (``{"data": "digits", ...}``), so the
            folder's config.json continues with ``nnrecipe run --config OUT/config.json``.
        command: the command line recorded in config.json.

    Returns:
        A `TuneResult` (best params and value, every trial, importance, findings).

    Raises:
        ConfigError: bad options, or a study whose data differs from `data`.

    Example:
        >>> import nnrecipe as nr
        >>> r = nr.tune("iris", trials=2, epochs=2, model="mlp", out=None, quiet=True)  # doctest: +SKIP
    """
    import optuna

    if trials < 1 or workers < 1 or epochs < 1 or repeats < 0:
        raise ConfigError(
            f"trials, workers and epochs must be >= 1 and repeats >= 0, got {trials}, "
            f"{workers}, {epochs}, {repeats}."
        )
    if settings is None and isinstance(data, str | Path):
        settings = {"data": str(data)}
    t0 = time.perf_counter()
    data = _resolve(data)
    if model is None or isinstance(model, str):
        model = model or model_for(data)
        space = space if space is not None else default_space(model)
    elif space is None:
        raise ConfigError(
            "A custom model factory needs a search space: pass space={...} or a function."
        )
    if isinstance(space, dict):
        normalize_space(space)  # report a bad space before any work
    folder = (
        Path(out)
        if out is not None
        else Path("runs") / f"tune-{data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    url = storage or st.default_storage_url(folder)
    name = study or STUDY_NAME
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    grid_space = grid(space) if isinstance(space, dict) else None

    def make_sampler(i: int) -> Any:
        return st.make_sampler(sampler, seed=seed + 1000 * i, grid=grid_space, n_trials=trials)

    make_sampler(0)  # validate the sampler name and grid before starting workers
    the_study = optuna.create_study(
        study_name=name,
        storage=st.make_storage(url),
        direction="minimize",
        load_if_exists=True,
        sampler=make_sampler(0),
        pruner=st.make_pruner(pruner, epochs=epochs, min_complete=min_complete),
    )
    _check_same_data(the_study, data)
    _record_space(the_study, model, space)
    if storage is None:
        st.fail_running(the_study)  # our own file: trials left RUNNING were killed with us
    remaining = trials - len(the_study.get_trials(deepcopy=False, states=st.counted_states()))
    objective = Objective(
        data=data,
        space=space,
        model=model,
        epochs=epochs,
        folder=folder,
        budget=trials,
        base=dict(base or {}),
        max_params=max_params,
        max_latency_ms=max_latency_ms,
        constraints=constraints,
        seed=seed,
        threads=threads,
    )
    payload = {
        "objective": objective,
        "url": url,
        "study": name,
        "sampler": sampler,
        "pruner": pruner,
        "grid": grid_space,
        "seed": seed,
        "trials": trials,
        "epochs": epochs,
        "min_complete": min_complete,
    }
    if remaining > 0:
        with TrialsDisplay(trials, title=f"tune {data.name}", quiet=quiet) as display:
            if workers == 1:
                work(
                    the_study,
                    objective,
                    remaining,
                    on_trial=lambda s: display.update(s.get_trials(deepcopy=False)),
                )
            else:
                spawn(payload, shares(remaining, workers), folder, the_study, display)
    from nnrecipe.tune.handoff import earlier_final, hand_off

    earlier = earlier_final(folder)
    result = _result(the_study, folder, url, name, data, model, time.perf_counter() - t0)
    if final:
        result.final = hand_off(
            result,
            objective,
            settings=settings,
            repeats=repeats,
            command=command,
            quiet=quiet,
            earlier=earlier,
        )
        atomic_write_text(folder / "tune.json", json.dumps(result.to_dict(), indent=2, default=str))
        if result.final is not None:
            from nnrecipe.tune.report import write_report

            write_report(folder)
    return result


def _record_space(study: Any, model: Any, space: Any) -> None:
    """Which model and search space the study searches (`--tune-study` checks them)."""
    if "model" in study.user_attrs:
        return
    study.set_user_attr("model", model if isinstance(model, str) else "custom")
    if isinstance(space, dict):
        study.set_user_attr("space", json.loads(json.dumps(normalize_space(space))))


def _check_same_data(study: Any, data: Data) -> None:
    fingerprint = data.fingerprint()
    saved = study.user_attrs.get("data_fingerprint")
    if saved is None:
        study.set_user_attr("data_fingerprint", fingerprint)
        study.set_user_attr("data_name", data.name)
    elif saved != fingerprint:
        raise ConfigError(
            f"Study {study.study_name!r} was tuned on other data ({study.user_attrs.get('data_name')}, "
            f"fingerprint {saved}, now {fingerprint}): use another --study or --out."
        )


def _trial_dict(t: Any) -> dict[str, Any]:

    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": t.value,
        "params": t.params,
        "feasible": feasible(t),
        "constraints": dict(t.constraints),
        "seconds": t.duration.total_seconds() if t.duration else None,
        **{
            k: v
            for k, v in t.user_attrs.items()
            if k
            in (
                "parameters",
                "latency_ms",
                "infeasible",
                "diverged",
                "epochs_run",
                "interrupted",
                "surplus",
                "seed",
            )
        },
    }


def _result(
    study: Any, folder: Path, url: str, name: str, data: Data, model: Any, seconds: float
) -> TuneResult:

    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    best = ranked(study)
    importance: dict[str, float] = {}
    if len(best) >= 4 and len({k for t in best for k in t.params}) > 1:
        import optuna

        try:
            importance = {
                k: float(v) for k, v in optuna.importance.get_param_importances(study).items()
            }
        except (RuntimeError, ValueError):  # e.g. every trial had the same value
            importance = {}
    result = TuneResult(
        folder=folder,
        storage=url,
        study_name=name,
        best_params=dict(best[0].params) if best else {},
        best_value=best[0].value if best else None,
        best_trial=best[0].number if best else None,
        trials=[_trial_dict(t) for t in trials],
        counts=counts,
        importance=importance,
        seconds=seconds,
        data=data,
        model=model,
    )
    result.findings = checks.run_checks(result, study)

    atomic_write_text(folder / "tune.json", json.dumps(result.to_dict(), indent=2, default=str))
    return result
