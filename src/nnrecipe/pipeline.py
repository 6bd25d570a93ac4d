"""`nr.run`: the whole recipe into a run folder.

Stages run in order over one `RunContext`: audit → baselines → checks → train → evaluate →
plots → (tune, diagnose) → report. The run writes into a hidden temporary folder
(``runs/.NAME.incomplete``) that is renamed to ``runs/NAME`` only at the end, so a run folder is
never half-written; a killed run resumes from its temporary folder (``--resume runs/NAME``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrecipe.config import RunConfig, make_config
from nnrecipe.data import Data
from nnrecipe.errors import ConfigError, DataError, ModelError, NnrecipeError, TrainingError
from nnrecipe.findings import Finding, Result, Severity
from nnrecipe.train.distributed import broadcast, is_main, local_world_size, world_size


@dataclass
class RunContext:
    """What the stages share. Each stage reads what earlier stages left and adds its own."""

    config: RunConfig
    data: Data
    dir: Path  # the temporary folder being written
    final_dir: Path
    resume: bool = False
    quiet: bool = False
    reshard: bool = False  # resume a checkpoint written by another number of processes
    summary: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)  # stage name -> JSON-able result
    findings: list[Finding] = field(default_factory=list)
    model: Any = None
    learner: Any = None
    say: Callable[[str], None] = print
    # The user's own model (an nn.Module in its initial state, or ``fn(data) -> nn.Module``).
    user_model: Any = None

    def new_model(self, options: dict[str, Any]) -> Any:
        """A fresh model in its initial state: a copy of the user's, the user's factory's, or the
        built-in one with `options`. Seeded, so every stage starts from the same weights."""
        import copy

        import torch
        from torch import nn

        from nnrecipe.models import build_model

        torch.manual_seed(self.config.seed)
        if isinstance(self.user_model, nn.Module):
            return copy.deepcopy(self.user_model)
        if self.user_model is not None:
            model = self.user_model(self.data)
            if not isinstance(model, nn.Module):
                raise ModelError(
                    f"The model factory returned {type(model).__name__}, not a torch.nn.Module: "
                    "pass a function data -> nn.Module, or the module itself."
                )
            return model
        return build_model(self.config.model, self.data, **options)

    def stop_on_errors(self, stage: str, result: Result) -> None:
        """Stop the run when a stage found errors, unless ``force``."""
        errors = result.at_least(Severity.ERROR)
        if errors and not self.config.force:
            codes = ", ".join(sorted({f.code for f in errors}))
            raise StageError(
                f"The {stage} found errors ({codes}): {errors[0].message} Fix them, or pass --force "
                f"to train anyway; `nnrecipe {stage if stage != 'checks' else 'check'} {self.config.data}` "
                "shows the details."
            )


class StageError(NnrecipeError):
    """A stage found errors in the user's data or model (the run stops unless forced)."""


@dataclass
class Stage:
    name: str
    fn: Callable[[RunContext], dict[str, Any] | None]
    # A resumed run reuses a resumable stage's saved result instead of running it again.
    resumable: bool = False


@dataclass
class RunResult:
    """A finished run: its folder, summary and findings."""

    path: Path
    summary: dict[str, Any]
    findings: list[Finding]

    def _repr_html_(self) -> str:
        from nnrecipe.report.notebook import run_html

        return run_html(self.path)  # the run's report page, in an isolated iframe


def resolve_data(config: RunConfig, *, skip_corrupt: bool = False) -> Data:
    """The `Data` a config names: a built-in data set, an image folder, or a CSV file.

    With `skip_corrupt`, unreadable images in a folder are skipped and listed in
    ``data.meta["corrupt_files"]`` (the audit reports them as ``corrupt-sample`` errors)."""
    from nnrecipe.data.builtin import LOADERS, load

    spec = config.data
    split = {
        "valid": config.valid,
        "test": config.test,
        "train_dev": config.train_dev,
        "seed": config.seed,
    }
    path = Path(spec)
    if (
        spec.lower().replace("_", "-") in {k.replace("_", "-") for k in LOADERS}
        and not path.exists()
    ):
        return load(spec, **split)
    if path.is_dir():
        return Data.from_folder(path, size=config.image_size, skip_corrupt=skip_corrupt, **split)
    if path.suffix.lower() in (".csv", ".tsv", ".txt") or path.is_file():
        if config.target is None:
            raise ConfigError(f"{spec!r} is a table: name its target column with --target COLUMN.")
        return Data.from_csv(path, target=config.target, task=config.task, **split)
    raise DataError(
        f"{spec!r} is neither a built-in data set ({', '.join(LOADERS)}) nor an existing folder "
        "or CSV file: check the name or path."
    )


# -- stages ------------------------------------------------------------------------------------


def stage_audit(ctx: RunContext) -> dict[str, Any]:
    """Become one with the data: `nr.audit` with its pictures in ``<run>/audit/``."""
    from nnrecipe.audit import audit

    result = audit(ctx.data, seed=ctx.config.seed, out=ctx.dir / "audit")
    result.artifacts = {k: f"audit/{v}" for k, v in result.artifacts.items()}  # relative to the run
    ctx.findings.extend(result.findings)
    counts = {s: len([f for f in result if f.severity == s]) for s in ("error", "warning", "info")}
    ctx.say(
        f"audit: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} "
        f"info ({', '.join(sorted(result.codes)) or 'nothing found'}) in "
        f"{result.stats['seconds']['total']:.1f} s"
    )
    ctx.stop_on_errors("audit", result)
    return result.to_dict()


def stage_baselines(ctx: RunContext) -> dict[str, Any]:
    from nnrecipe.models.baselines import baselines

    splits = tuple(s for s in ("valid", "test") if s in ctx.data.splits)
    result = baselines(
        ctx.data, splits=splits, human_error=ctx.config.human_error, seed=ctx.config.seed
    )
    metric = ctx.data.task.primary_metric
    parts = [
        f"{k} {v['valid'][metric]:.4f}"
        for k, v in result.items()
        if isinstance(v, dict) and "valid" in v
    ]
    ctx.say(f"baselines (valid {metric}): " + ", ".join(parts))
    return result


def stage_checks(ctx: RunContext) -> dict[str, Any]:
    """Sanity checks on the model the train stage will build: `nr.check`, with the range-test
    plot in ``<run>/checks/``."""

    from nnrecipe.checks import check
    from nnrecipe.checks.plots import save_plots
    from nnrecipe.train.optim import adamw

    c = ctx.config
    model = ctx.new_model(c.model_options())  # the same initial weights as the train stage
    result = check(model, ctx.data, optimizer=adamw(c.lr, c.weight_decay), seed=c.seed)
    result.artifacts = {k: f"checks/{v}" for k, v in save_plots(result, ctx.dir / "checks").items()}
    ctx.findings.extend(result.findings)
    worst = result.at_least("warning")
    ctx.say(
        f"checks: {len([f for f in worst if f.severity == 'error'])} error(s), "
        f"{len([f for f in worst if f.severity == 'warning'])} warning(s) "
        f"({', '.join(sorted({f.code for f in worst})) or 'nothing found'}) in "
        f"{result.stats.get('total_seconds', 0):.1f} s"
    )
    ctx.stop_on_errors("checks", result)
    return result.to_dict()


def stage_train(ctx: RunContext) -> dict[str, Any]:

    from nnrecipe.models import count_parameters
    from nnrecipe.train import Learner
    from nnrecipe.train.checkpoint import save_model
    from nnrecipe.train.monitor import Monitor
    from nnrecipe.tune.augment import make_augment
    from nnrecipe.tune.stages import train_settings

    c = ctx.config
    tuned = train_settings(c, ctx.results.get("tune"))  # the config's, or the tune stage's best
    ctx.model = ctx.new_model(tuned["options"])  # the initial weights depend on the seed only
    ctx.learner = Learner(
        ctx.model,
        ctx.data,
        lr=tuned["lr"],
        weight_decay=tuned["weight_decay"],
        batch_size=tuned["batch_size"],
        augment=make_augment(ctx.data.modality, tuned["augment"]),
        schedule=tuned["schedule"],
        clip=tuned["clip"],
        patience=tuned["patience"],
        seed=c.seed,
        device=c.device,
        threads=c.threads,
        out=ctx.dir,
        quiet=ctx.quiet,
        precision=c.precision,
        compile=c.compile,
        # Read-only records for the report, written by the process that writes (rank 0).
        callbacks=[Monitor(ctx.dir / "monitor.json")] if is_main() else [],
    )
    t0 = time.perf_counter()
    ctx.learner.fit(c.epochs, resume=ctx.resume, reshard=ctx.reshard)
    L = ctx.learner
    if not is_main():
        return {}
    save_model(
        ctx.dir / "model.safetensors",
        ctx.model,
        {"model": c.model, "options": tuned["options"], "training": tuned},
    )
    if L.placement:
        ctx.say(L.placement)
    if L.compile_seconds is not None:
        ctx.say(f"torch.compile: first step {L.compile_seconds:.1f} s, compilation included")
    if L.world_ > 1:
        ctx.say(
            f"data-parallel on {L.world_} processes: global batch {L.batch_size * L.world_} "
            f"({L.batch_size} per process)"
        )
    metric = ctx.data.task.primary_metric
    ctx.say(
        f"trained {len(L.history)} epochs in {time.perf_counter() - t0:.1f} s "
        f"(best epoch {L.best_epoch}, valid {metric} {L.best_score:.4f}, {L.threads_used} thread(s))"
    )
    return {
        "epochs_run": len(L.history),
        "best_epoch": L.best_epoch,
        "stopped_early": L.stopped_early,
        "threads": L.threads_used,
        "batch_size": L.batch_size,
        "processes": L.world_,
        "compile_seconds": L.compile_seconds,
        "parameters": count_parameters(ctx.model),
    }


def stage_evaluate(ctx: RunContext) -> dict[str, Any]:
    """Score the best checkpoint on every split; the test split once, here, at the end."""
    L, task = ctx.learner, ctx.data.task
    scores = {s: L.evaluate(s) for s in ("train", "train_dev", "valid") if s in ctx.data.splits}
    if "test" in ctx.data.splits:
        scores["test"] = L.evaluate("test")
        # Counted in a file of the run folder; the run's own looks at test are one session.
        from nnrecipe.diagnose.testset import record_test_evaluation

        ctx.summary["test_evaluations"] = record_test_evaluation(
            ctx.dir, by="run:evaluate", session="run"
        )
    ctx.summary.update(scores)
    ctx.summary["best_epoch"] = L.best_epoch
    metric = task.primary_metric
    base = ctx.results.get("baselines", {})
    for name in ("majority", "linear"):
        ref = base.get(name, {}).get("valid", {}).get(metric)
        if ref is not None and not task.better(scores["valid"][metric], ref):
            ctx.findings.append(
                Finding(
                    "below-baseline",
                    Severity.WARNING,
                    f"The model's valid {metric} ({scores['valid'][metric]:.4f}) does not beat the {name} "
                    f"baseline ({ref:.4f}).",
                    {"model": scores["valid"][metric], name: ref, "metric": metric},
                    "Run `nnrecipe check` on the model; train longer, or use a bigger model.",
                )
            )
    line = ", ".join(f"{s} {metric} {v[metric]:.4f}" for s, v in scores.items())
    ctx.say(line)
    return scores


def stage_plots(ctx: RunContext) -> dict[str, Any]:
    from nnrecipe.report import plots

    L, task, plot_dir = ctx.learner, ctx.data.task, ctx.dir / "plots"
    metric = task.primary_metric
    base = ctx.results.get("baselines", {})
    refs = {k: v["valid"][metric] for k, v in base.items() if isinstance(v, dict) and "valid" in v}
    files = [
        plots.loss_curves(
            L.history, plot_dir / "loss.png", expected_init=base.get("expected_loss_at_init")
        ),
        plots.metric_curves(L.history, metric, plot_dir / f"{metric}.png", refs),
        plots.lr_curve(L.history, plot_dir / "lr.png"),
    ]
    out, y = L.outputs("valid")
    pred = task.predict(out).numpy()
    if task.kind == "classification":
        files.append(
            plots.confusion_matrix(
                y.numpy().reshape(-1),
                pred,
                ctx.data.classes,
                plot_dir / "confusion_valid.png",
                title="Confusion matrix (valid)",
            )
        )
    else:
        files.append(
            plots.predicted_vs_true(
                y.numpy().reshape(-1), pred.reshape(-1), plot_dir / "predicted_vs_true_valid.png"
            )
        )
    return {"files": [str(f.relative_to(ctx.dir)) for f in files]}


def stage_report(ctx: RunContext) -> dict[str, Any]:
    from nnrecipe.report.build import stage_report as write_report

    return write_report(ctx)


def stage_tune(ctx: RunContext) -> dict[str, Any] | None:
    from nnrecipe.tune.stages import stage_tune as search

    return search(ctx)


def stage_ensemble(ctx: RunContext) -> dict[str, Any] | None:
    from nnrecipe.tune.stages import stage_ensemble as squeeze

    return squeeze(ctx)


def stage_diagnose(ctx: RunContext) -> dict[str, Any]:
    from nnrecipe.diagnose.stages import stage_diagnose as ng_table

    return ng_table(ctx)


STAGES: list[Stage] = [
    Stage("audit", stage_audit, resumable=True),  # first: errors in the data stop the run
    Stage("baselines", stage_baselines, resumable=True),
    Stage("checks", stage_checks, resumable=True),  # before any compute is spent on training
    Stage("tune", stage_tune, resumable=True),  # the study itself resumes from its SQLite file
    Stage("train", stage_train),
    Stage("evaluate", stage_evaluate),
    Stage("ensemble", stage_ensemble),
    Stage("plots", stage_plots),
    Stage("diagnose", stage_diagnose),
    Stage("report", stage_report),  # last: the page shows what every stage before it left
]


# -- the run -----------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from nnrecipe.versions import versions

    return versions()


def _write_json(path: Path, obj: Any) -> None:
    from nnrecipe.train.checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def _run_stage(ctx: RunContext, stage: Stage) -> None:
    """Run one stage, or reuse its saved result when a resumed run has it."""
    cached = ctx.dir / "stages" / f"{stage.name}.json"
    if ctx.resume and stage.resumable and cached.exists():
        ctx.results[stage.name] = json.loads(cached.read_text())
        saved = ctx.results[stage.name]
        if isinstance(saved, dict) and isinstance(saved.get("findings"), list):
            ctx.findings.extend(Finding(**f) for f in saved["findings"])  # e.g. the audit's
        return
    result = stage.fn(ctx)
    if result is not None:
        ctx.results[stage.name] = result
        if is_main():
            _write_json(cached, result)


def _stage_on_rank0(ctx: RunContext, stage: Stage) -> None:
    """Rank 0 runs `stage`; every process learns its verdict and stops with the same error."""
    main = is_main()
    error: tuple[str, str] | None = None
    failure: BaseException | None = None
    if main:
        try:
            _run_stage(ctx, stage)
        except NnrecipeError as e:
            error, failure = (type(e).__name__, str(e)), e
        except BaseException as e:
            error, failure = ("NnrecipeError", f"rank 0 failed in the {stage.name} stage: {e}"), e
    verdict = broadcast(error)
    if failure is not None:
        raise failure
    if verdict is not None:
        kinds = {
            c.__name__: c for c in (StageError, ConfigError, DataError, ModelError, TrainingError)
        }
        raise kinds.get(verdict[0], NnrecipeError)(verdict[1])


def incomplete_dir(final: Path) -> Path:
    """Where a run is written until it finishes: a hidden sibling of the final folder."""
    return final.parent / f".{final.name}.incomplete"


def run(
    config: RunConfig | dict[str, Any] | str | None = None,
    *,
    data: Data | tuple | None = None,
    model: Any = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    say: Callable[[str], None] | None = None,
    command: str | None = None,
    reshard: bool = False,
    **overrides: Any,
) -> RunResult:
    """Run the whole recipe and write a run folder.

    Args:
        config: a data set name / path, a dict of settings, or a `RunConfig`.
        data: your own data (an `nr.Data` or a tuple ``(x_train, y_train, x_valid, y_valid)``)
            instead of a name or path; `config`'s ``data`` is then only its label.
        model: your own model instead of the built-in one: an ``nn.Module`` in its initial
            state (each stage trains a copy), or a function ``data -> nn.Module``.
        resume: the run folder of a killed run to continue exactly where it stopped.
        overwrite: replace an existing run folder.
        quiet: no progress output.
        reshard: resume a run killed while training on another number of processes.
        **overrides: settings (``epochs=5``, ``out="runs/x"``, ...) over `config`.

    Returns:
        A `RunResult` with the run folder, ``summary.json``'s content and all findings.

    Raises:
        NnrecipeError: a problem with the data, the config or the model; the message says how
            to fix it. Nothing is left half-written (a failed training keeps its checkpoint in
            the ``.incomplete`` folder for ``--resume``).
    """

    from nnrecipe.train import distributed

    # Under torchrun (`nnrecipe run --nproc N`): join the process group for the whole run.
    spec = config if isinstance(config, dict) else {}
    own_group = distributed.init(device=overrides.get("device") or spec.get("device"))
    try:
        return _run(
            config,
            data=data,
            model=model,
            resume=resume,
            overwrite=overwrite,
            quiet=quiet,
            say=say,
            command=command,
            reshard=reshard,
            **overrides,
        )
    finally:
        if own_group:
            distributed.teardown()


def _run(
    config: RunConfig | dict[str, Any] | str | None,
    *,
    data: Data | tuple | None,
    model: Any,
    resume: str | Path | None,
    overwrite: bool,
    quiet: bool,
    say: Callable[[str], None] | None,
    command: str | None,
    reshard: bool,
    **overrides: Any,
) -> RunResult:
    main, world = is_main(), world_size()
    quiet = quiet or not main  # one process speaks
    from nnrecipe.progress import set_quiet

    set_quiet(quiet)
    say = say or ((lambda s: None) if quiet else print)
    values: dict[str, Any]
    if data is not None:
        data = Data.coerce(data)
    if config is None:
        if data is None:
            raise ConfigError("nr.run needs data: a data set name or path, or data=nr.Data(...).")
        config = {"data": data.name}
    if isinstance(config, RunConfig):
        values = config.model_dump()
    elif isinstance(config, str):
        values = {"data": config}
    else:
        values = dict(config)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if resume is not None:
        final = Path(resume)
        tmp = incomplete_dir(final)
        if not tmp.exists():
            if final.exists():
                raise ConfigError(
                    f"Run {str(final)!r} already finished: there is nothing to resume."
                )
            raise ConfigError(
                f"Nothing to resume at {str(final)!r}: no interrupted run was found there."
            )
        saved = json.loads((tmp / "config.json").read_text())["config"]
        values = {**saved, **{k: v for k, v in values.items() if k in ("force",)}}
        values["out"] = str(final)
    if resume is None and world == 1 and int(values.get("nproc") or 1) > 1:
        raise ConfigError(
            f"nproc={values['nproc']} needs processes started by torchrun: run `nnrecipe run "
            f"... --nproc {values['nproc']}` or `torchrun --nproc-per-node {values['nproc']} -m "
            "nnrecipe run ...`."
        )
    if resume is None or reshard:
        # Recorded: a resume relaunches as many processes (a refused resume changes nothing).
        values["nproc"] = local_world_size() if world > 1 else 1
    cfg = make_config(values)
    if world > 1 and cfg.tune_trials:
        raise ConfigError(
            "Tuning runs in one process (it scales out with tune_workers / tune_storage): drop "
            "--nproc to tune, then train the tuned settings with --nproc."
        )
    if resume is None:
        name = f"{Path(cfg.data).stem or cfg.data}-{time.strftime('%Y%m%d-%H%M%S')}"
        # Rank 0's clock names the folder of every process.
        final = Path(broadcast(str(Path(cfg.out) if cfg.out else Path("runs") / name)))
        if final.exists() and not overwrite:
            raise ConfigError(
                f"Run folder {str(final)!r} already exists: choose another --out or pass --overwrite."
            )
        tmp = incomplete_dir(final)
        if tmp.exists() and main:
            shutil.rmtree(tmp)
    if data is None:
        data = resolve_data(cfg, skip_corrupt=True)  # the audit stage reports unreadable files
    if resume is not None:
        saved_print = json.loads((tmp / "config.json").read_text())["data"]["fingerprint"]
        if data.fingerprint() != saved_print:
            raise ConfigError(
                f"Cannot resume {str(final)!r}: the data differ from the interrupted run's "
                f"(fingerprint {data.fingerprint()} vs {saved_print}); pass the same data."
            )
    say(f"data: {data}")
    if main:
        tmp.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        cfg, data, tmp, final, resume=resume is not None, quiet=quiet, say=say, reshard=reshard
    )
    ctx.user_model = model
    try:
        if main:
            _write_json(
                tmp / "config.json",
                {
                    "config": cfg.model_dump(),
                    "versions": _versions(),
                    "seed": cfg.seed,
                    "data": data.describe(),
                    "command": command or " ".join(sys.argv),
                },
            )
        trained = False
        for stage in STAGES:
            if world > 1 and stage.name != "train":
                if trained and not main:
                    break  # after training, rank 0 alone evaluates, plots and reports
                if not trained:
                    _stage_on_rank0(ctx, stage)  # the audit, baselines and checks run once
                    continue
            _run_stage(ctx, stage)
            trained = trained or stage.name == "train"
        if not main:
            return RunResult(final, {}, [])
        ctx.summary["baselines"] = ctx.results.get("baselines", {})
        ctx.summary["findings"] = [f.to_dict() for f in ctx.findings]
        _write_json(tmp / "summary.json", ctx.summary)
    except TrainingError:
        raise  # keep the .incomplete folder: its last good checkpoint can be inspected or resumed
    except BaseException as e:
        if not isinstance(e, KeyboardInterrupt) and main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    say(f"run folder: {final}")
    return RunResult(final, ctx.summary, ctx.findings)
