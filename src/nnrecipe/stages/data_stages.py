"""The stages before any training: audit, baselines, checks."""

from __future__ import annotations

from nnrecipe.audit import audit
from nnrecipe.checks import check
from nnrecipe.checks.plots import save_plots
from nnrecipe.models.baselines import baselines
from nnrecipe.schema import BaselinesResult, FindingsResult
from nnrecipe.stages.context import RunContext
from nnrecipe.train.transfer import checks_optimizer


def _counts(findings: list) -> str:
    worst = [f for f in findings if f.severity in ("error", "warning")]
    n_err = len([f for f in worst if f.severity == "error"])
    codes = ", ".join(sorted({f.code for f in worst})) or "nothing found"
    return f"{n_err} error(s), {len(worst) - n_err} warning(s) ({codes})"


def stage_audit(ctx: RunContext) -> FindingsResult:
    """Become one with the data: `nr.audit` with its pictures in ``<run>/audit/``."""
    result = audit(ctx.data, seed=ctx.config.seed, out=ctx.dir / "audit")
    result.artifacts = {k: f"audit/{v}" for k, v in result.artifacts.items()}  # relative to the run
    ctx.findings.extend(result.findings)
    ctx.say(f"audit: {_counts(result.findings)} in {result.stats['seconds']['total']:.1f} s")
    ctx.stop_on_errors("audit", result)
    return FindingsResult.model_validate(result.to_dict())


def stage_baselines(ctx: RunContext) -> BaselinesResult:
    """The numbers the model has to beat: the task's baselines and the loss at init."""
    splits = tuple(s for s in ("valid", "test") if s in ctx.data.splits)
    raw = baselines(
        ctx.data, splits=splits, human_error=ctx.config.human_error, seed=ctx.config.seed
    )
    result = BaselinesResult(
        models={k: v for k, v in raw.items() if k not in ("human", "expected_loss_at_init")},
        human_error=ctx.config.human_error,
        expected_loss_at_init=raw.get("expected_loss_at_init"),
    )
    metric = ctx.data.task.primary_metric
    parts = [f"{k} {v:.4f}" for k, v in result.valid(metric).items()]
    ctx.say(f"baselines (valid {metric}): " + ", ".join(parts))
    return result


def stage_checks(ctx: RunContext) -> FindingsResult:
    """Sanity checks on the model the train stage will build: `nr.check`, with the range-test
    plot in ``<run>/checks/``."""
    c = ctx.config
    model = ctx.new_model(c.model_options())  # the same initial weights as the train stage
    factory = checks_optimizer(c.lr, model, ctx.data, weight_decay=c.weight_decay, seed=c.seed)
    result = check(model, ctx.data, optimizer=factory, seed=c.seed)  # lr "auto" resolved
    result.artifacts = {k: f"checks/{v}" for k, v in save_plots(result, ctx.dir / "checks").items()}
    ctx.findings.extend(result.findings)
    ctx.say(f"checks: {_counts(result.findings)} in {result.stats.get('total_seconds', 0):.1f} s")
    ctx.stop_on_errors("checks", result)
    return FindingsResult.model_validate(result.to_dict())
