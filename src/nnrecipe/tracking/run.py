"""The tracker of one `nnrecipe run`: opened with the run folder, fed by the train stage's
Learner, finished after the report (or closed as KILLED / FAILED when the run stops)."""

from __future__ import annotations

from typing import Any

from nnrecipe.models import model_for
from nnrecipe.stages.context import RunContext
from nnrecipe.stages.tune import train_settings
from nnrecipe.tracking import Tracker, open_tracker


def fit_params(ctx: RunContext, learner: Any | None) -> dict[str, Any]:
    """The settings that train the model: the config, what tuning chose, and what the Learner
    resolved (model, batch size, threads, device), as ``config.json``'s ``resolved`` has them."""
    c = ctx.config
    tuned = train_settings(c, ctx.result("tune"))
    params = c.model_dump(exclude={"out", "log", "log_uri"})
    params.update({k: v for k, v in tuned.items() if k != "options"})
    params.update(tuned["options"])
    params["model"] = "user" if ctx.user_model is not None else c.model or model_for(ctx.data)
    if learner is not None:  # None: the run stopped before training
        params["batch_size"] = learner.batch_size
        params["threads"] = getattr(learner, "threads_used", c.threads)
        params["device"] = learner.device_.type
    return params


def start(ctx: RunContext, *, command: str) -> Tracker | None:
    """The run's tracker (None without ``log``); a resumed run continues its MLflow run."""
    c = ctx.config
    if not c.log:
        return None
    tags = {
        "nnrecipe.data": c.data,
        "nnrecipe.task": ctx.data.task.name,
        "nnrecipe.command": command,
        "nnrecipe.run_dir": str(ctx.final_dir.resolve()),
    }
    return open_tracker(
        c.log,
        run_dir=ctx.dir,
        final_dir=ctx.final_dir,
        experiment=ctx.data.name or "nnrecipe",
        log_uri=c.log_uri,
        params=lambda learner: fit_params(ctx, learner),
        tags=tags,
        say=ctx.say,
    )


def finish(ctx: RunContext, summary: dict[str, Any]) -> None:
    """Log the findings, scores and report; say where to look."""
    tracker = ctx.tracker
    if tracker is None:
        return
    report = ctx.dir / "report.html"
    lines = tracker.finish(
        findings=[f.to_dict() for f in ctx.findings],
        summary=summary,
        report=report if report.exists() else None,
        final_dir=ctx.final_dir,
    )
    ctx.tracker = None
    for line in lines:
        ctx.say(line)


def stop(ctx: RunContext, status: str) -> None:
    """Close the tracker of a run that stops early (KILLED on Ctrl-C, FAILED on an error),
    with the findings so far (the errors that stopped it)."""
    tracker = ctx.tracker
    if tracker is None:
        return
    ctx.tracker = None
    tracker.finish(
        findings=[f.to_dict() for f in ctx.findings],
        summary={},
        report=None,
        final_dir=ctx.final_dir,
        status=status,
    )
