"""The run's tune and ensemble stages (``nnrecipe run --tune N --ensemble K``).

The tune stage searches before training, on train and valid only, and the train stage then
trains with the best settings (`train_settings`). The ensemble stage averages the top-K trials'
models, picks the final model (single or ensemble) on validation error, and only then scores
it on test, as part of the run's one evaluation session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from nnrecipe.diagnose.testset import record_test_evaluation
from nnrecipe.errors import ConfigError
from nnrecipe.findings import Result
from nnrecipe.io import atomic_write_text
from nnrecipe.schema import EnsembleStageResult, TuneResult
from nnrecipe.stages.context import RunContext
from nnrecipe.tune.ensemble import ensemble, score_model
from nnrecipe.tune.objective import error_of
from nnrecipe.tune.search import tune
from nnrecipe.tune.space import split_params


def train_settings(config: Any, tuned: TuneResult | None) -> dict[str, Any]:
    """Model options and Learner settings for the train stage: the config's, overridden by the
    tune stage's best parameters when there are any."""
    best = tuned.best_params if tuned is not None else {}
    training, options = split_params(best)
    return {
        **config.training_settings(),
        **training,
        "options": {**config.model_options(), **options},
    }


def stage_tune(ctx: RunContext) -> TuneResult | None:
    """Search the model's settings (``--tune N``) before training, on train and valid only."""
    c = ctx.config
    if c.ensemble and not (c.tune_trials or c.tune_study_path):
        raise ConfigError(
            f"--ensemble {c.ensemble} averages the top tuned models: add --tune N (N >= {c.ensemble})."
        )
    if c.tune_study_path:
        return _reused(ctx)
    if not c.tune_trials:
        return None
    if ctx.user_model is not None:
        raise ConfigError(
            "--tune searches the built-in models; for your own model call "
            "nr.tune(data, model=fn(params) -> nn.Module, space=...) and train its best settings."
        )
    base = c.training_settings()
    result = tune(
        ctx.data,
        trials=c.tune_trials,
        sampler=c.tune_sampler,
        pruner=c.tune_pruner,
        workers=c.tune_workers,
        storage=c.tune_storage,
        study=c.tune_study,
        out=ctx.dir / "tune",
        model=c.model,
        space=c.tune_space,
        epochs=c.tune_epochs or c.epochs,
        max_params=c.max_params,
        max_latency_ms=c.max_latency_ms,
        base=base,
        min_complete=max(5, c.ensemble or 0),
        seed=c.seed,
        threads=c.threads or 1,
        quiet=ctx.quiet,
        final=False,  # the run trains the best settings itself
    )
    storage = c.tune_storage or "sqlite:///<run folder>/tune/study.db"
    return _stage_result(ctx, result, f"{result.counts} in {result.seconds:.0f} s", storage)


def _reused(ctx: RunContext) -> TuneResult:
    """``--tune-study PATH``: the best settings of a finished search, no new trial."""
    from nnrecipe.tune.reuse import reuse

    c = ctx.config
    if ctx.user_model is not None:
        raise ConfigError(
            "--tune-study reuses a search of a built-in model; for your own model pass its "
            "best settings (nr.tune(...).best_params) to your model and Learner."
        )
    result = reuse(
        c.tune_study_path,
        ctx.data,
        out=ctx.dir / "tune",
        model=c.model,
        space=c.tune_space,
        study=c.tune_study,
    )
    return _stage_result(ctx, result, f"reused {c.tune_study_path} (no new trial)", result.storage)


def _stage_result(ctx: RunContext, result: Any, how: str, storage: str) -> TuneResult:
    ctx.findings.extend(result.findings)
    ctx.stop_on_errors("tune", Result(result.findings, stage="tune"))
    ctx.say(
        f"tune: {how}; best valid error {result.best_value:.4f} (trial {result.best_trial}): "
        + ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.best_params.items()
        )
    )
    out = result.to_dict()
    out.pop("final", None)
    out["folder"] = "tune"
    out["storage"] = storage
    out["trials"] = len(out["trials"])
    return TuneResult.model_validate(out)


def _trials_folder(ctx: RunContext) -> Path:
    """Where the trials' models are: the run's own tune folder, or the reused study's."""
    path = ctx.config.tune_study_path
    if not path:
        return ctx.dir / "tune"
    return Path(path) if Path(path).is_dir() else Path(path).parent


def stage_ensemble(ctx: RunContext) -> EnsembleStageResult | None:
    """Average the top-K trials; choose single vs ensemble on valid; then score test once."""
    c = ctx.config
    if not c.ensemble or "tune" not in ctx.results:
        return None
    splits = tuple(s for s in ("train", "train_dev", "valid") if s in ctx.data.splits)
    trials = _trials_folder(ctx)
    res = ensemble(trials, k=c.ensemble, data=ctx.data, splits=splits)
    single_valid = error_of(ctx.data.task, ctx.result("evaluate").scores["valid"])
    ens_valid = res.scores["valid"]["ensemble"]["error"]
    # Chosen on valid only; a tie goes to the ensemble (averaging lowers the variance).
    final = "ensemble" if ens_valid <= single_valid else "single"
    out: dict[str, Any] = {**res.to_dict(), "single_valid_error": single_valid, "final": final}
    if "test" in ctx.data.splits:
        # The models are chosen: this look at test belongs to the run's one evaluation session.
        out["test"] = score_model(res.model, ctx.data, "test")
        out["test_best_trial"] = score_model(res.model.members[0], ctx.data, "test")
        out["test_evaluations"] = record_test_evaluation(ctx.dir, by="run:ensemble", session="run")
    folder = ctx.dir / "ensemble"
    folder.mkdir(exist_ok=True)
    for n in res.members:
        shutil.copy2(
            trials / "trials" / f"{n:04d}.safetensors",
            folder / f"trial-{n:04d}.safetensors",
        )
    atomic_write_text(
        folder / "ensemble.json",
        json.dumps(
            {
                "members": [f"trial-{n:04d}.safetensors" for n in res.members],
                "average": ctx.data.task.name,  # members combine by Task.average
            },
            indent=2,
        ),
    )
    metric = ctx.data.task.primary_metric
    line = (
        f"ensemble of {len(res.members)} (trials {res.members}): valid {metric} "
        f"{res.scores['valid']['ensemble'][metric]:.4f} vs best trial {res.scores['valid']['best_single'][metric]:.4f}"
        f" (gain {res.gain['valid']:+.4f} error)"
    )
    if "test" in out:
        line += f"; test {metric} {out['test'][metric]:.4f}"
    ctx.say(line + f"; final model: {final}")
    return EnsembleStageResult.model_validate(out)
