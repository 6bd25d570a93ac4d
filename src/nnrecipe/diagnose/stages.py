"""The run's diagnose stage: Ng's table of the trained model's errors, into the summary."""

from __future__ import annotations

from typing import Any


def stage_diagnose(ctx: Any) -> dict[str, Any]:
    from nnrecipe.diagnose.core import diagnose, table_text
    from nnrecipe.diagnose.testset import test_evaluations

    scores = {
        k: ctx.summary[k]
        for k in ("train", "train_dev", "valid", "test")
        if isinstance(ctx.summary.get(k), dict)
    }
    result = diagnose(
        scores,
        human_error=ctx.config.human_error,
        sizes={k: len(v) for k, v in ctx.data.splits.items()},
        test_evaluations=len(test_evaluations(ctx.dir)),
    )
    ctx.findings.extend(result.findings)
    ctx.summary["diagnosis"] = {
        k: result.stats[k] for k in ("errors", "human_known", "table", "verdict", "next_step")
    }
    ctx.say("diagnosis (Ng):\n" + table_text(result))
    return result.to_dict()
