"""Worker processes on one study: quotas, the trial loop, and spawning.

Each worker loads the study from its storage URL (storages are not shared across processes)
and runs trials one at a time; the budget check in `Objective` keeps the total exact even when
workers on other machines join the same study.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError, NnrecipeError
from nnrecipe.tune import study as st
from nnrecipe.tune.objective import Objective, SurplusTrial
from nnrecipe.tune.study import counted_states


def shares(n: int, workers: int) -> list[int]:
    """Split n trials into per-worker quotas that sum to n."""
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


def work(
    study: Any, objective: Objective, quota: int, on_trial: Callable[[Any], None] | None = None
) -> None:
    """Run up to `quota` trials, one at a time, until the shared budget is used up."""

    for _ in range(quota):
        if len(study.get_trials(deepcopy=False, states=counted_states())) >= objective.budget:
            break
        study.optimize(objective, n_trials=1, catch=(SurplusTrial,), gc_after_trial=False)
        if on_trial is not None:
            on_trial(study)
        last = study.get_trials(deepcopy=False)[-1]
        if last.user_attrs.get("surplus"):
            break


def worker_main(payload: dict[str, Any], index: int, quota: int, error_file: str) -> None:
    """Entry point of a worker process: load the study and run its quota of trials."""
    import optuna
    import torch

    try:
        torch.set_num_threads(payload["objective"].threads)
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler = st.make_sampler(
            payload["sampler"],
            seed=payload["seed"] + 1000 * index,
            grid=payload["grid"],
            n_trials=payload["trials"],
        )
        study = optuna.load_study(
            study_name=payload["study"],
            storage=st.make_storage(payload["url"]),
            sampler=sampler,
            pruner=st.make_pruner(
                payload["pruner"], epochs=payload["epochs"], min_complete=payload["min_complete"]
            ),
        )
        work(study, payload["objective"], quota)
    except BaseException as e:
        Path(error_file).write_text(f"{type(e).__name__}: {e}")
        raise


def spawn(
    payload: dict[str, Any], quotas: list[int], folder: Path, study: Any, display: Any
) -> None:
    import multiprocessing as mp
    import pickle

    try:
        pickle.dumps(payload)
    except Exception as e:
        raise ConfigError(
            f"Cannot send the search to worker processes ({type(e).__name__}: {e}): with workers > 1 "
            "the search space, model factory and constraints must be module-level functions, not lambdas."
        ) from None
    ctx = mp.get_context("spawn")  # fork would copy torch's OpenMP state: deadlocks
    procs, errors = [], []
    for i, quota in enumerate(quotas):
        if quota == 0:
            continue
        err = folder / f".worker-{i}.error"
        err.unlink(missing_ok=True)
        p = ctx.Process(target=worker_main, args=(payload, i, quota, str(err)), daemon=False)
        p.start()
        procs.append((p, err))
    try:
        while any(p.is_alive() for p, _ in procs):
            display.update(study.get_trials(deepcopy=False))
            for p, _ in procs:
                p.join(timeout=1.0 / len(procs))
    except BaseException:
        for p, _ in procs:
            p.terminate()
        raise
    display.update(study.get_trials(deepcopy=False))
    for p, err in procs:
        if p.exitcode != 0:
            errors.append(err.read_text() if err.exists() else f"exit code {p.exitcode}")
        err.unlink(missing_ok=True)
    if errors:
        raise NnrecipeError(
            f"{len(errors)} tune worker(s) failed: {errors[0]}. Finished trials are kept in "
            f"the study; rerun the same command to continue."
        )
