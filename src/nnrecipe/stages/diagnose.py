"""The run's diagnose stage: Ng's table of the trained model's errors."""

from __future__ import annotations

from nnrecipe.diagnose.core import diagnose, table_text
from nnrecipe.diagnose.testset import test_evaluations
from nnrecipe.schema import FindingsResult
from nnrecipe.stages.context import RunContext


def stage_diagnose(ctx: RunContext) -> FindingsResult:
    """Avoidable bias, variance, data mismatch: Ng's table and the next step."""
    scores = dict(ctx.result("evaluate").scores)
    base = ctx.result("baselines")
    baseline_errors = {}
    for name, per_split in (base.models if base else {}).items():
        valid = {k: v for k, v in (per_split.get("valid") or {}).items() if v is not None}
        if valid and name != "majority":  # the prior is no evidence of what can be fitted
            baseline_errors[name] = ctx.data.task.error(valid)
    result = diagnose(
        scores,
        baseline_errors=baseline_errors,
        human_error=ctx.config.human_error,
        sizes={k: len(v) for k, v in ctx.data.splits.items()},
        test_evaluations=len(test_evaluations(ctx.dir)),
    )
    ctx.findings.extend(result.findings)
    ctx.say("diagnosis (Ng):\n" + table_text(result))
    return FindingsResult.model_validate(result.to_dict())
