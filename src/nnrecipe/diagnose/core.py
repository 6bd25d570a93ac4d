"""`nr.diagnose`: is the error avoidable bias, variance, data mismatch, or overfitting to the
validation set? Answers with Ng's table of errors and the next step for the largest gap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrecipe.diagnose.checks import CHECKS, DiagnosisContext, gap_rows, verdict
from nnrecipe.diagnose.codes import NEXT_STEP
from nnrecipe.diagnose.curve import run_learning_curve
from nnrecipe.diagnose.testset import record_test_evaluation
from nnrecipe.diagnose.testset import test_evaluations as recorded
from nnrecipe.errors import ConfigError
from nnrecipe.findings import Result
from nnrecipe.io import atomic_write_text
from nnrecipe.schema import Summary, read_typed
from nnrecipe.tasks import Task, task_from_description
from nnrecipe.train import Learner
from nnrecipe.train.saved import rebuild_model, run_config, run_data

LEVELS = ("human", "train", "train_dev", "valid", "test")


def _error(task_kind: str | None, metrics: Any, primary: str | None = None) -> float:
    """An error from a number or from a metrics dict (classification error, else the primary
    metric, else rmse / loss)."""
    if isinstance(metrics, int | float):
        return float(metrics)
    if "error" in metrics:
        return float(metrics["error"])
    for key in (primary, "rmse", "loss"):
        if key and key in metrics:
            return float(metrics[key])
    raise ConfigError(
        f"Cannot find an error in {metrics!r}: give 'error' (classification) or 'rmse'."
    )


def _from_run(
    run_dir: Path, evaluate: bool, model: Any = None, data: Any = None
) -> tuple[dict[str, Any], dict[str, int], Task, float | None]:
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        raise ConfigError(
            f"{str(run_dir)!r} is not a finished run folder (no summary.json): "
            "pass the folder `nnrecipe run` printed."
        )
    summary = read_typed(summary_path, Summary)
    config = run_config(run_dir)
    sizes = (config.get("data") or {}).get("sizes", {})
    task = task_from_description((config.get("data") or {}).get("task"))
    scores = {k: summary.split(k) for k in ("train", "train_dev", "valid", "test")}
    scores = {k: v for k, v in scores.items() if v is not None}
    if evaluate:
        scores = evaluate_run(run_dir, model=model, data=data)
    return scores, sizes, task, config["config"].get("human_error")


def _baseline_errors(run_dir: Path) -> dict[str, float]:
    """The valid errors of a run's baselines (from its summary), for the no-human case."""
    summary = read_typed(run_dir / "summary.json", Summary)
    if summary.baselines is None:
        return {}
    config = run_config(run_dir)
    task = task_from_description((config.get("data") or {}).get("task"))
    out = {}
    for name, per_split in summary.baselines.models.items():
        valid = per_split.get("valid")
        if valid and name != "majority":  # the prior is no evidence of what can be fitted
            try:
                out[name] = task.error({k: v for k, v in valid.items() if v is not None})
            except (KeyError, TypeError):
                continue
    return out


def evaluate_run(
    run_dir: str | Path, *, model: Any = None, data: Any = None
) -> dict[str, dict[str, float]]:
    """Load a run's saved model and data and score it on every split, test included (which is
    recorded as another test evaluation in the run folder). A run trained on your own model or
    data needs them again: `model=` (the module or its factory) and `data=`."""
    run_dir = Path(run_dir)
    loaded = run_data(run_dir, data)
    net = rebuild_model(run_dir, loaded, model=model)
    learner = Learner(net, loaded, quiet=True, threads=1)
    scores = {
        s: learner.evaluate(s)
        for s in ("train", "train_dev", "valid", "test")
        if s in loaded.splits
    }
    if "test" in scores:
        record_test_evaluation(run_dir, by="diagnose --evaluate")
    return scores


def diagnose(
    source: Any,
    *,
    human_error: float | None = None,
    evaluate: bool = False,
    learning_curve: bool = False,
    epochs: int | None = None,
    model: Any = None,
    data: Any = None,
    sizes: dict[str, int] | None = None,
    test_evaluations: int | None = None,
    baseline_errors: dict[str, float] | None = None,
) -> Result:
    """Ng's bias / variance diagnosis, with the recommended next step.

    Args:
        source: a run folder (reads its ``summary.json``), a trained `Learner` (scores train,
            train-dev and valid; never test), or a dict of errors / metric dicts per level
            (``{"human": 0.01, "train": 0.08, "train_dev": 0.09, "valid": 0.1, "test": 0.11}``).
        human_error: human-level error (proxy for the Bayes error); default the run's
            ``human_error``. Unknown, it is not taken as 0: avoidable bias is then judged from
            the baselines (a model whose train error is no better than a baseline's valid
            error underfits) and the table says it is unknown.
        evaluate: for a run folder, rescore the saved model on every split instead of reading
            the summary. Counts as an evaluation on test: a second one warns (test-set-reuse).
        learning_curve: for a run folder, also train on growing fractions of the training set
            and plot error against training-set size (``plots/learning_curve.png``).
        epochs: epochs per learning-curve point (default the run's).
        model: for a run trained on your own model, that model (its initial state, or
            ``fn(data) -> nn.Module``): needed by `evaluate` and `learning_curve`.
        data: for a run trained on your own data, that data.
        sizes: samples per split (for the noise of each error), when `source` is a dict.
        test_evaluations: how often test was evaluated, when `source` is not a run folder.
        baseline_errors: the baselines' valid errors (``{"linear": 0.03}``); a run folder's
            are read from its summary. Without a human error, they judge avoidable bias.

    Returns:
        A `Result` whose findings are the significant gaps (avoidable-bias, variance,
        data-mismatch, overfit-to-valid), test-set-reuse, or at-human-level; ``stats`` has the
        ``table`` (one row per gap), ``errors``, ``verdict`` and ``next_step``.

    Example:
        >>> import nnrecipe as nr
        >>> r = nr.diagnose({"human": 0.01, "train": 0.15, "valid": 0.16})
        >>> r.stats["verdict"]
        'avoidable-bias'
    """

    n_test = test_evaluations
    sizes = dict(sizes or {})
    regression, run_dir, run_human, run_baselines = False, None, None, {}
    comparable = True
    if isinstance(source, str | Path):
        run_dir = Path(source)
        scores, sizes, task, run_human = _from_run(run_dir, evaluate, model, data)
        regression, comparable = task.error_in_target_units, task.train_error_comparable
        run_baselines = _baseline_errors(run_dir)
    elif isinstance(source, dict):
        scores = dict(source)
        # Metric dicts without a classification error are a regression's (rmse, in target units).
        regression = any(isinstance(v, dict) and "error" not in v for v in scores.values())
    elif hasattr(source, "evaluate") and hasattr(source, "data"):
        learner = source
        learner._setup()
        scores = {
            s: learner.evaluate(s)
            for s in ("train", "train_dev", "valid")
            if s in learner.data.splits
        }
        sizes = {k: len(v) for k, v in learner.data.splits.items()}
        regression = learner.task.error_in_target_units
        comparable = learner.task.train_error_comparable
    else:
        raise ConfigError(
            f"diagnose() takes a run folder, a Learner or a dict of errors, got {type(source).__name__}."
        )
    human = human_error if human_error is not None else scores.pop("human", run_human)
    scores.pop("human", None)
    errors = {k: _error(None, v) for k, v in scores.items() if k in LEVELS and v is not None}
    human_known = human is not None
    if human_known:
        errors = {"human": float(human), **errors}
    if "train" not in errors or "valid" not in errors:
        raise ConfigError(
            f"diagnose needs at least the train and valid errors, got {sorted(errors)}."
        )
    ctx = DiagnosisContext(
        errors=errors,
        sizes=sizes,
        regression=regression,
        human_known=human_known,
        test_evaluations=len(recorded(run_dir)) if run_dir else (n_test or 0),
        baselines=dict(baseline_errors or {}) or run_baselines,
        train_comparable=comparable,
    )
    ctx.rows = gap_rows(ctx)
    findings = [f for check in CHECKS for f in check(ctx)]
    code = verdict(ctx)
    stats = {
        "errors": errors,
        "human_known": human_known,
        "table": ctx.rows,
        "verdict": code,
        "next_step": NEXT_STEP.get(code or "", ""),
        "test_evaluations": ctx.test_evaluations,
    }
    artifacts: dict[str, str] = {}
    if learning_curve:
        if run_dir is None:
            raise ConfigError(
                "learning_curve=True needs a run folder; for your own model call "
                "nnrecipe.diagnose.curve.learning_curve(...)."
            )

        stats["learning_curve"], artifacts["learning_curve"] = run_learning_curve(
            run_dir, epochs=epochs, model=model, data=data
        )
    result = Result(findings, stage="diagnose", stats=stats, artifacts=artifacts)
    if run_dir is not None:
        atomic_write_text(run_dir / "diagnosis.json", result.to_json())
    return result


def table_text(result: Result) -> str:
    """Ng's table as plain text lines (for the CLI and the report)."""
    s = result.stats
    lines = ["level        error"]
    if not s["human_known"]:
        lines.append("human        unknown (pass --human-error; bias judged from the baselines)")
    for level in LEVELS:
        if level in s["errors"]:
            lines.append(f"{level:<12} {s['errors'][level]:.4f}")
    lines.append("")
    lines.append("gap                 value   noise   significant")
    for r in s["table"]:
        lines.append(
            f"{r['gap']:<18} {r['value']:+.4f} {r['threshold']:.4f}  {'yes' if r['significant'] else 'no'}"
        )
    if s.get("verdict"):
        lines.append(f"\nverdict: {s['verdict']} → {s['next_step']}")
    return "\n".join(lines)
