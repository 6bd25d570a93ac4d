"""The run of the recipe into a run folder, split into its jobs.

`run` does five things in order: resolve the config (`_config_values`), create or reopen the
run folder (`_open_folder`), load the data (`_load_data`), run the stages (`_run_stages`, each
saving its typed result in ``stages/NAME.json``), and finish (`_finish`: ``summary.json``,
``manifest.json``, the rename). The run writes into a hidden temporary folder
(``runs/.NAME.incomplete``) that is renamed to ``runs/NAME`` only at the end, so a run folder is
never half-written; a killed run resumes from its temporary folder (``--resume runs/NAME``).

The stages live in `nnrecipe.stages`; the report stage is added by `nnrecipe.recipe`, one layer
up, so that nothing here imports the report.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnrecipe import tracking
from nnrecipe.config import RunConfig, make_config
from nnrecipe.data import Data
from nnrecipe.data.resolve import resolve_data
from nnrecipe.errors import (
    ConfigError,
    DataError,
    ModelError,
    NnrecipeError,
    TrainingError,
    fs_fault,
    storage_error,
)
from nnrecipe.findings import Finding
from nnrecipe.html import run_iframe
from nnrecipe.io import atomic_write_json, read_json
from nnrecipe.progress import set_quiet
from nnrecipe.schema import (
    RESULT_TYPES,
    SCHEMA_VERSION,
    Diagnosis,
    Manifest,
    StageEntry,
    Summary,
    parse,
)
from nnrecipe.stages import STAGES, RunContext, Stage, StageError
from nnrecipe.threads import check_device
from nnrecipe.tracking import run as track
from nnrecipe.train import distributed
from nnrecipe.train.distributed import broadcast, is_main, local_world_size, world_size
from nnrecipe.versions import versions

__all__ = ["STAGES", "RunContext", "RunResult", "Stage", "StageError", "incomplete_dir", "run"]


@dataclass
class RunResult:
    """A finished run: its folder, summary and findings."""

    path: Path
    summary: dict[str, Any]
    findings: list[Finding]

    def __repr__(self) -> str:
        worst = [f.code for f in self.findings if f.severity in ("error", "warning")]
        return f"RunResult({str(self.path)!r}, {len(self.findings)} findings: {worst[:5]})"

    def _repr_html_(self) -> str:

        return run_iframe(self.path)  # the run's report page, in an isolated iframe


def incomplete_dir(final: Path) -> Path:
    """Where a run is written until it finishes: a hidden sibling of the final folder."""
    return final.parent / f".{final.name}.incomplete"


# -- job 1: the config ---------------------------------------------------------------------------
def _config_values(
    config: RunConfig | dict[str, Any] | str | None,
    data: Data | None,
    resume: Path | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
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
        _check_resumable(resume)
        saved = _saved_config(resume)
        values = {**saved["config"], **{k: v for k, v in values.items() if k in ("force",)}}
        values["out"] = str(resume)
    return values


def _saved_config(resume: Path) -> dict[str, Any]:
    """The interrupted run's config.json, or one sentence saying it is damaged (a kill between
    creating the folder and writing the file leaves it missing or empty)."""
    path = incomplete_dir(resume) / "config.json"
    again = (
        f"start the run again with `nnrecipe run DATA --out {resume} --overwrite` "
        "(the folder is kept until then)"
    )
    try:
        saved = read_json(path, what="run config")
    except ConfigError as e:
        raise ConfigError(f"{str(e).rstrip('.')}: {again}.") from None
    config = saved.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("data"), str):
        raise ConfigError(f"The run config {str(path)!r} has no valid 'config' settings: {again}.")
    try:
        make_config(config)
    except ConfigError as e:
        raise ConfigError(f"The run config {str(path)!r} is damaged ({e}): {again}.") from None
    return saved


# -- job 2: the run folder -----------------------------------------------------------------------
def resume_target(path: str | Path) -> Path:
    """The run folder `--resume` means: the final folder, also when the hidden
    ``.NAME.incomplete`` folder itself is given."""
    p = Path(path)
    if str(path).strip() == "":
        raise ConfigError("--resume got an empty path: pass the run folder `nnrecipe run` printed.")
    if p.name.startswith(".") and p.name.endswith(".incomplete") and len(p.name) > 12:
        return p.parent / p.name[1 : -len(".incomplete")]
    return p


def _check_resumable(final: Path) -> None:
    tmp = incomplete_dir(final)
    if tmp.is_dir():
        return
    if tmp.exists():
        raise ConfigError(
            f"{str(tmp)!r} is a file, not an interrupted run folder: there is nothing to resume."
        )
    if (final / "manifest.json").exists() or (final / "summary.json").exists():
        raise ConfigError(f"Run {str(final)!r} already finished: there is nothing to resume.")
    if final.exists():
        raise ConfigError(
            f"{str(final)!r} is not a run folder of nnrecipe (no manifest.json): there is "
            "nothing to resume; pass the folder `nnrecipe run` printed."
        )
    raise ConfigError(f"Nothing to resume at {str(final)!r}: no interrupted run was found there.")


def _open_folder(cfg: RunConfig, resume: Path | None, overwrite: bool) -> tuple[Path, Path]:
    """(final folder, temporary folder) of a new run, or of the interrupted run to resume."""
    if resume is not None:
        tmp = incomplete_dir(resume)
        if not tmp.exists():
            if resume.exists():
                raise ConfigError(
                    f"Run {str(resume)!r} already finished: there is nothing to resume."
                )
            raise ConfigError(
                f"Nothing to resume at {str(resume)!r}: no interrupted run was found there."
            )
        return resume, tmp
    name = f"{Path(cfg.data).stem or cfg.data}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Rank 0's clock names the folder of every process.
    final = Path(broadcast(str(Path(cfg.out) if cfg.out else Path("runs") / name)))
    if final.exists() and not overwrite:
        raise ConfigError(
            f"Run folder {str(final)!r} already exists: choose another --out or pass --overwrite."
        )
    tmp = incomplete_dir(final)
    if tmp.exists():
        if not overwrite:
            raise ConfigError(
                f"An interrupted run is waiting at {str(final)!r}: continue it with "
                f"`nnrecipe run --resume {final}`, or start over with --overwrite."
            )
        if is_main():
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
    return final, tmp


def has_progress(tmp: Path) -> bool:
    """Whether a temporary run folder holds anything worth resuming: a checkpoint, or a
    finished stage's result."""
    return any(
        (tmp / sub).is_dir() and any((tmp / sub).iterdir()) for sub in ("checkpoints", "stages")
    )


def check_writable(final: Path) -> None:
    """Fail before any data are loaded when the run folder's parent cannot be written."""
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".nnrecipe-write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        if e.filename is None:
            e.filename = str(parent)
        raise storage_error(
            e, then=f"choose a writable --out folder (the run would be written to {str(final)!r})."
        ) from None


def _keep_or_remove(tmp: Path, *, created: bool) -> bool:
    """After a failure: remove the temporary folder only when this invocation created it and
    nothing was checkpointed or finished in it; returns whether it is kept."""
    if not tmp.exists():
        return False
    if created and not has_progress(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        return tmp.exists()
    return True


# -- job 3: the data -----------------------------------------------------------------------------
def _load_data(cfg: RunConfig, data: Data | None, tmp: Path, resume: bool) -> Data:
    if data is None:
        data = resolve_data(cfg, skip_corrupt=True)  # the audit stage reports unreadable files
    if resume:
        saved = read_json(tmp / "config.json", what="run config")
        saved_print = (saved.get("data") or {}).get("fingerprint")
        if data.fingerprint() != saved_print:
            raise ConfigError(
                f"Cannot resume {str(tmp)!r}: the data differ from the interrupted run's "
                f"(fingerprint {data.fingerprint()} vs {saved_print}); pass the same data."
            )
    return data


# -- job 4: the stages ---------------------------------------------------------------------------
def _run_stage(ctx: RunContext, stage: Stage, manifest: Manifest) -> None:
    """Run one stage (or reuse its saved result when a resumed run has it) and save it."""
    cached = ctx.dir / "stages" / f"{stage.name}.json"
    kind = RESULT_TYPES[stage.name]
    t0 = time.perf_counter()
    if ctx.resume and stage.resumable and cached.exists():
        saved = parse(kind, read_json(cached, what="stage result"), where=str(cached))
        ctx.results[stage.name] = saved
        ctx.findings.extend(Finding(**f) for f in getattr(saved, "findings", []) or [])
        manifest.stages.append(StageEntry(name=stage.name, status="resumed"))
        return
    result = stage.fn(ctx)
    status = "skipped" if result is None else "done"
    if result is not None:
        ctx.results[stage.name] = result
    if not is_main():
        return  # rank 0 alone writes the run folder
    if result is not None:
        atomic_write_json(cached, result.model_dump(mode="json"))
    manifest.stages.append(
        StageEntry(name=stage.name, status=status, seconds=round(time.perf_counter() - t0, 3))
    )
    atomic_write_json(ctx.dir / "manifest.json", manifest.model_dump(mode="json"))


def _stage_on_rank0(ctx: RunContext, stage: Stage, manifest: Manifest) -> None:
    """Rank 0 runs `stage`; every process learns its verdict and stops with the same error."""
    error: tuple[str, str, int] | None = None
    failure: BaseException | None = None
    if is_main():
        try:
            _run_stage(ctx, stage, manifest)
        except NnrecipeError as e:
            error, failure = (type(e).__name__, str(e), getattr(e, "exit_code", 2)), e
        except BaseException as e:
            error = ("NnrecipeError", f"rank 0 failed in the {stage.name} stage: {e}", 2)
            failure = e
    verdict = broadcast(error)
    if failure is not None:
        raise failure
    if verdict is not None:
        kinds = {c.__name__: c for c in (ConfigError, DataError, ModelError, TrainingError)}
        if verdict[0] == "StageError":
            raise StageError(verdict[1], codes={"corrupt-sample"} if verdict[2] == 2 else set())
        raise kinds.get(verdict[0], NnrecipeError)(verdict[1])


def _run_stages(ctx: RunContext, stages: Sequence[Stage], manifest: Manifest) -> None:
    """The stages in order. Under torchrun rank 0 alone runs the stages before training (the
    audit, baselines and checks run once; every rank learns the verdict), all ranks train,
    and rank 0 alone evaluates, plots and reports."""
    world, trained = world_size(), False
    for stage in stages:
        if world > 1 and stage.name != "train":
            if trained and not is_main():
                break
            if not trained:
                _stage_on_rank0(ctx, stage, manifest)
                continue
        _run_stage(ctx, stage, manifest)
        trained = trained or stage.name == "train"


# -- job 5: finish -------------------------------------------------------------------------------
def summary_of(ctx: RunContext) -> Summary:
    """``summary.json`` from the stages' typed results: written here, in one place."""
    ev, train, ens = ctx.result("evaluate"), ctx.result("train"), ctx.result("ensemble")
    diag = ctx.result("diagnose")
    scores = dict(ev.scores) if ev else {}
    n_test = max((r.test_evaluations or 0 for r in (ev, ens) if r is not None), default=0)
    diagnosis = None
    if diag is not None:
        keys = ("errors", "human_known", "table", "verdict", "next_step")
        diagnosis = Diagnosis.model_validate(
            {k: diag.stats.get(k) for k in keys if k in diag.stats}
        )
    final_test = scores.get("test")
    if ens is not None and ens.test is not None and ens.final == "ensemble":
        final_test = ens.test
    return Summary(
        **{k: v for k, v in scores.items() if k in ("train", "train_dev", "valid", "test")},
        best_epoch=train.best_epoch if train else None,
        test_evaluations=n_test or None,
        baselines=ctx.result("baselines"),
        findings=[f.to_dict() for f in ctx.findings],
        diagnosis=diagnosis,
        ensemble=ens,
        final_model=ens.final if ens else None,
        final_test=final_test if ens else None,
    )


def resolved_settings(ctx: RunContext) -> dict[str, Any]:
    """Every value the run resolved (the model built, its options, batch size, threads,
    device, and for tuned runs the values that trained the final model)."""
    train = ctx.result("train")
    if train is None:
        return {}
    fields = RunConfig.model_fields
    out: dict[str, Any] = {"model": None if train.model == "user" else train.model}
    out.update({k: v for k, v in train.options.items() if k in fields})
    out.update({k: v for k, v in train.settings.items() if k in fields})
    out["batch_size"] = train.batch_size
    out["threads"] = train.threads
    if ctx.learner is not None:
        out["device"] = ctx.learner.device_.type
    return out


def _record_resolved(ctx: RunContext) -> None:
    """Add to config.json what the run resolved and the settings that rerun it: `nnrecipe run
    --config runs/NAME/config.json` trains the same model.safetensors (bit-identical on CPU)."""
    path = ctx.dir / "config.json"
    saved = read_json(path, what="run config")
    resolved = resolved_settings(ctx)
    rerun = {**saved["config"], **resolved, "out": None}
    if ctx.result("tune") is not None and ctx.result("ensemble") is None:
        rerun.update(tune_trials=None)  # the tuned values are in `resolved`: no search again
    saved.update(resolved=resolved, rerun=rerun)
    atomic_write_json(path, saved)


def _finish(ctx: RunContext, manifest: Manifest) -> None:
    manifest.finished = True
    atomic_write_json(ctx.dir / "manifest.json", manifest.model_dump(mode="json"))
    if ctx.final_dir.exists():
        shutil.rmtree(ctx.final_dir)
    ctx.dir.rename(ctx.final_dir)


class Interrupted(NnrecipeError):
    """The user stopped the run (Ctrl-C); its folder is kept for ``--resume``."""

    exit_code = 130  # what a shell reports for SIGINT


def _interrupted_message(ctx: RunContext) -> str:
    learner = ctx.learner
    where = ""
    if learner is not None and getattr(learner, "history", None) is not None:
        done, total = len(learner.history), getattr(learner, "epochs", ctx.config.epochs)
        where = f" at epoch {done} of {total}"
    return (
        f"Interrupted{where}; continue with `nnrecipe run --resume {ctx.final_dir}` "
        "(the run so far is kept)."
    )


def _safe_say(say: Callable[[str], None]) -> Callable[[str], None]:
    """`say` that survives a closed stdout (``nnrecipe run ... | head``): the run goes on."""
    state = {"open": True}

    def wrapped(text: str) -> None:
        if not state["open"]:
            return
        try:
            say(text)
        except BrokenPipeError:
            state["open"] = False
            if say is not print:
                return
            try:  # further writes to the dead pipe would raise again at exit
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except OSError:
                pass

    return wrapped


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
    final_stages: Sequence[Stage] = (),
    **overrides: Any,
) -> RunResult:
    """Run the recipe's stages and write a run folder (`nnrecipe.recipe.run` adds the report:
    use that one, exported as `nr.run`). Under torchrun (`nnrecipe run --nproc N`) every
    process joins the process group for the whole run; `reshard` resumes a run killed while
    training on another number of processes."""
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
            final_stages=final_stages,
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
    final_stages: Sequence[Stage],
    **overrides: Any,
) -> RunResult:
    main, world = is_main(), world_size()
    quiet = quiet or not main  # one process speaks
    set_quiet(quiet)
    say = _safe_say(say or ((lambda s: None) if quiet else print))
    data_given = data is not None
    if data is not None:
        data = Data.coerce(data)
    resume_path = resume_target(resume) if resume is not None else None
    values = _config_values(config, data, resume_path, overrides)
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
    if cfg.device is not None:
        check_device(cfg.device)  # before any work: one sentence for an absent device
    tracking.require(cfg.log, log_uri=cfg.log_uri)  # a missing library: one sentence, no work
    if cfg.tune_study_path and resume_path is None:
        from nnrecipe.tune.reuse import check_reusable, locate

        locate(cfg.tune_study_path)  # before any work: one sentence when it is not a study
    final, tmp = _open_folder(cfg, resume_path, overwrite)
    check_writable(final)  # before the data are loaded: a read-only --out fails at once
    data = _load_data(cfg, data, tmp, resume_path is not None)
    if cfg.tune_study_path and resume_path is None:
        check_reusable(cfg, data)  # the same data, model and space, before the audit
    say(f"data: {data}")
    if main:
        try:
            tmp.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise storage_error(e, then="choose a writable --out folder.") from None
    ctx = RunContext(
        cfg, data, tmp, final, resume=resume is not None, quiet=quiet, say=say, reshard=reshard
    )
    ctx.user_model = model
    manifest = Manifest(
        nnrecipe=versions().get("nnrecipe", ""), created=time.strftime("%Y-%m-%dT%H:%M:%S")
    )
    try:
        if not main:
            _run_stages(ctx, STAGES, manifest)  # train with rank 0, then leave the rest to it
            return RunResult(final, {}, [])
        atomic_write_json(
            tmp / "config.json",
            {
                "schema_version": SCHEMA_VERSION,
                "config": cfg.model_dump(),
                "versions": versions(),
                "seed": cfg.seed,
                "data": data.describe(),
                # Rebuilding this run later needs the user's own data / model again.
                "user_data": data_given,
                "user_model": model is not None,
                "command": command or " ".join(sys.argv),
            },
        )
        ctx.tracker = track.start(ctx, command=command or " ".join(sys.argv))
        _run_stages(ctx, STAGES, manifest)
        _record_resolved(ctx)
        summary = summary_of(ctx)
        atomic_write_json(tmp / "summary.json", summary.model_dump(mode="json"))
        for stage in final_stages:  # the report (rank 0 only): reads the folder written so far
            _run_stage(ctx, stage, manifest)
        track.finish(ctx, summary.model_dump(mode="json"))
    except KeyboardInterrupt:
        track.stop(ctx, "KILLED")
        raise Interrupted(_interrupted_message(ctx)) from None  # the folder is kept
    except BaseException as e:
        track.stop(ctx, "FAILED")
        # A run folder is removed only when this invocation created it and nothing was ever
        # checkpointed or finished in it: never on --resume, never after an interrupt; and
        # only by rank 0, which alone writes it.
        created = resume_path is None and not isinstance(e, KeyboardInterrupt)
        kept = _keep_or_remove(tmp, created=created) if main else True
        if fs_fault(e) is not None:
            then = (
                f"the partial run is kept in {str(tmp)!r}: fix the disk, then continue it with "
                f"`nnrecipe run --resume {final}`."
                if kept and has_progress(tmp)
                else "nothing was kept: fix the disk and run again."
            )
            raise storage_error(e, then=then) from None  # type: ignore[arg-type]
        raise
    try:
        _finish(ctx, manifest)
    except OSError as e:
        if fs_fault(e) is None:
            raise
        raise storage_error(
            e, then=f"the finished run is kept in {str(tmp)!r}: fix the disk, then resume it."
        ) from None
    for f in sorted(ctx.findings, key=lambda f: -f.severity.rank):
        if f.severity in ("error", "warning"):  # what the report's findings section shows
            say(f"{f.severity}: {f.code}: {f.message}")
    say(f"run folder: {final}")
    return RunResult(final, summary.model_dump(mode="json"), ctx.findings)
