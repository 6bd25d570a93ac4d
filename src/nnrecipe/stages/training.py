"""The train, evaluate and plots stages."""

from __future__ import annotations

import time

from nnrecipe import plotting
from nnrecipe.diagnose.testset import record_test_evaluation
from nnrecipe.findings import Finding, Severity
from nnrecipe.models import count_parameters, model_for
from nnrecipe.schema import EvaluateResult, PlotsResult, TrainResult
from nnrecipe.stages.context import RunContext
from nnrecipe.stages.tune import train_settings
from nnrecipe.train import Learner
from nnrecipe.train.checkpoint import save_model
from nnrecipe.train.distributed import is_main
from nnrecipe.train.monitor import Monitor
from nnrecipe.train.transfer import fit_or_fine_tune
from nnrecipe.tune.augment import make_augment


def stage_train(ctx: RunContext) -> TrainResult:
    """Train the model (the config's settings, or the tune stage's best) with checkpoints."""
    c = ctx.config
    tuned = train_settings(c, ctx.result("tune"))  # the config's, or the tune stage's best
    ctx.model = ctx.new_model(tuned["options"])  # the initial weights depend on the seed only
    ctx.learner = Learner(
        ctx.model,
        ctx.data,
        lr=tuned["lr"],
        weight_decay=tuned["weight_decay"],
        batch_size=tuned["batch_size"],
        augment=make_augment(ctx.data.modality, tuned["augment"], task=ctx.data.task),
        schedule=tuned["schedule"],
        clip=tuned["clip"],
        patience=tuned["patience"],
        class_weights=tuned.get("class_weights"),
        seed=c.seed,
        device=c.device,
        threads=c.threads,
        out=ctx.dir,
        quiet=ctx.quiet,
        precision=c.precision,
        compile=c.compile,
        # Read-only records for the report, written by the process that writes (rank 0).
        callbacks=[Monitor(ctx.dir / "monitor.json"), *([ctx.tracker] if ctx.tracker else [])]
        if is_main()
        else [],
    )
    t0 = time.perf_counter()
    # fine_tune if pretrained; under torchrun every process trains its shard
    fit_or_fine_tune(ctx.learner, c.epochs, resume=ctx.resume, reshard=ctx.reshard)
    seconds = time.perf_counter() - t0
    L = ctx.learner
    if not is_main():  # rank 0 alone saves, evaluates and reports
        return TrainResult(epochs_run=len(L.history), best_epoch=L.best_epoch)
    if L.placement:
        ctx.say(L.placement)
    if L.compile_seconds is not None:
        ctx.say(f"torch.compile: first step {L.compile_seconds:.1f} s, compilation included")
    if L.world_ > 1:
        ctx.say(
            f"data-parallel on {L.world_} processes: global batch {L.batch_size * L.world_} "
            f"({L.batch_size} per process)"
        )
    watched = getattr(L, "watch_result", None)  # nr.watch over the Learner's own loop
    if watched is not None:
        ctx.findings.extend(watched.findings)
    # Which model this is: a built-in name (rebuilt from the folder) or the user's own module.
    model_name = "user" if ctx.user_model is not None else c.model or _default_name(ctx)
    settings = {k: v for k, v in tuned.items() if k != "options"}
    settings["batch_size"] = L.batch_size
    save_model(
        ctx.dir / "model.safetensors",
        ctx.model,
        {"model": model_name, "options": tuned["options"], "training": settings},
    )
    metric = ctx.data.task.primary_metric
    resumed = getattr(L, "resumed_from", None)
    where = f" (resumed at epoch {resumed + 1} of {c.epochs})" if resumed is not None else ""
    ctx.say(
        f"trained {len(L.history)} epochs in {seconds:.1f} s{where} "
        f"(best epoch {L.best_epoch}, valid {metric} {L.best_score:.4f}, {L.threads_used} thread(s))"
    )
    stopped = stop_line(L, metric)
    ctx.say(stopped)
    return TrainResult(
        epochs_run=len(L.history),
        best_epoch=L.best_epoch,
        best_score=L.best_score,
        stopped_early=L.stopped_early,
        budget=L.epochs,
        stopped=stopped,
        threads=L.threads_used,
        batch_size=L.batch_size,
        parameters=count_parameters(ctx.model),
        model=model_name,
        processes=L.world_,
        compile_seconds=L.compile_seconds,
        options=tuned["options"],
        settings=settings,
        seconds=seconds,
    )


def stop_line(L: Learner, metric: str) -> str:
    """Why training stopped: a plateau (and its cooldown), early stopping, or the budget."""
    ran, cd = len(L.history), L.cooldown
    if L.budget_ran_out:
        return (
            f"best epoch was the last ({ran} of {L.epochs}): the valid {metric} was still "
            "improving when the budget ran out; raise --epochs"
        )
    if cd is not None and cd.reason == "plateau":
        return (
            f"the valid {metric} stopped improving: cooled down for "
            f"{cd.steps // L.steps_per_epoch} epochs and stopped at epoch {ran} of a budget of "
            f"{L.epochs} (best epoch {L.best_epoch})"
        )
    if L.stopped_early:
        return f"early stopping at epoch {ran} of {L.epochs} (best epoch {L.best_epoch})"
    return f"used the whole budget of {L.epochs} epochs (best epoch {L.best_epoch})"


def _default_name(ctx: RunContext) -> str:
    return model_for(ctx.data)  # the data's recommendation (tabular, collab) or the task's


def stage_evaluate(ctx: RunContext) -> EvaluateResult:
    """Score the best checkpoint on every split; the test split once, here, at the end."""
    L, task = ctx.learner, ctx.data.task
    scores = {s: L.evaluate(s) for s in ("train", "train_dev", "valid") if s in ctx.data.splits}
    n_test = None
    if "test" in ctx.data.splits:
        scores["test"] = L.evaluate("test")
        # Counted in a file of the run folder; the run's own looks at test are one session.
        n_test = record_test_evaluation(ctx.dir, by="run:evaluate", session="run")
    metric = task.primary_metric
    base = ctx.result("baselines")
    below = []
    floors = task.baselines_to_beat()
    # A tie at a perfect score (iris, wine, penguins: linear is at 1.0 there) is not a loss.
    perfect = task.error(scores["valid"]) == 0
    for name, ref in (base.valid(metric) if base else {}).items():
        tie = scores["valid"][metric] == ref
        if name in floors and not task.better(scores["valid"][metric], ref):
            if tie and perfect:
                continue
            below.append(name)
            ctx.findings.append(
                Finding(
                    "below-baseline",
                    Severity.WARNING,
                    f"The model's valid {metric} ({scores['valid'][metric]:.4f}) does not beat the {name} "
                    f"baseline ({ref:.4f}).",
                    {"model": scores["valid"][metric], name: ref, "metric": metric},
                    "Run `nnrecipe check` on the model, then follow the diagnosis's next step "
                    "(train longer or a bigger model when it underfits).",
                )
            )
    ctx.say(", ".join(f"{s} {metric} {v[metric]:.4f}" for s, v in scores.items()))
    return EvaluateResult(scores=scores, test_evaluations=n_test, below_baseline=below)


def stage_plots(ctx: RunContext) -> PlotsResult:
    """Training curves and the task's result plots (confusion matrix, predicted vs true...)."""
    L, task, plot_dir = ctx.learner, ctx.data.task, ctx.dir / "plots"
    metric = task.primary_metric
    base = ctx.result("baselines")
    files = [
        plotting.loss_curves(
            L.history,
            plot_dir / "loss.png",
            expected_init=base.expected_loss_at_init if base else None,
        ),
        plotting.metric_curves(
            L.history, metric, plot_dir / f"{metric}.png", base.valid(metric) if base else {}
        ),
        plotting.lr_curve(L.history, plot_dir / "lr.png"),
    ]
    out, y = L.outputs("valid")
    files += task.plots(out, y, ctx.data, plot_dir)
    return PlotsResult(files=[str(f.relative_to(ctx.dir)) for f in files])
