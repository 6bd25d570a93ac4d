"""The run's diagnose stage: Ng's table of the trained model's errors."""

from __future__ import annotations

from nnrecipe.diagnose.core import diagnose, table_text
from nnrecipe.diagnose.testset import test_evaluations
from nnrecipe.schema import FindingsResult
from nnrecipe.stages.context import RunContext


def stage_diagnose(ctx: RunContext) -> FindingsResult:
    """Avoidable bias, variance, data mismatch: Ng's table and the next step."""
    scores = dict(ctx.result("evaluate").scores)
    result = diagnose(
        scores,
        human_error=ctx.config.human_error,
        sizes={k: len(v) for k, v in ctx.data.splits.items()},
        test_evaluations=len(test_evaluations(ctx.dir)),
    )
    ctx.findings.extend(result.findings)
    ctx.say("diagnosis (Ng):\n" + table_text(result))
    return FindingsResult.model_validate(result.to_dict())
