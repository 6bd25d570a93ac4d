"""The `nnrecipe` command: a thin shell over the library.

Each command parses its options, calls one library verb, prints, and maps the user's errors
(`NnrecipeError`) to one line on stderr and exit code 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="nnrecipe: neural-network training that fails loudly. Runs Karpathy's recipe end to end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich formatter alone costs more start-up time than the rest of
    # `nnrecipe --help` (0.37 s of 0.7 s measured on this loaded machine).
    rich_markup_mode=None,
)

DEBUG = {"on": False}

DataArg = Annotated[
    str | None, typer.Argument(help="built-in data set (digits, mnist1d, ...), image folder or CSV")
]
Target = Annotated[str | None, typer.Option(help="target column of a CSV file")]
Masks = Annotated[
    str | None, typer.Option(help="segmentation: folder of masks named like the images")
]
Columns = Annotated[str | None, typer.Option(help="comma-separated CSV columns")]
Task = Annotated[
    str | None,
    typer.Option(help="what is predicted: classification, regression, ... (default: inferred)"),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML or JSON file of settings")]
Seed = Annotated[int | None, typer.Option(help="random seed")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")]
Debug = Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")]


def _fail(message: str) -> None:
    if _rank() == 0:  # under torchrun every process fails alike; one says so
        typer.echo(f"error: {' '.join(str(message).split())}", err=True)  # one line
    raise typer.Exit(2)


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a library verb, turning the user's errors into one line and exit code 2."""
    from nnrecipe.errors import NnrecipeError, fs_fault, storage_error

    try:
        return fn(*args, **kwargs)
    except NnrecipeError as e:
        if DEBUG["on"]:
            raise
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)  # one line
        raise typer.Exit(getattr(e, "exit_code", 2)) from None
    except OSError as e:  # a full disk, a read-only folder: the machine's fault, not a bug
        if DEBUG["on"] or fs_fault(e) is None:
            raise
        _fail(str(storage_error(e, then="free space or choose a writable folder, then rerun.")))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _columns(text: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]`` (None stays None)."""
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def config_values(data: str | None, config: Path | None, **flags: Any) -> dict[str, Any]:
    """Settings from the config file, overridden by the flags given on the command line."""
    from nnrecipe.config import load_config_file

    values: dict[str, Any] = load_config_file(config) if config is not None else {}
    if data is not None:
        values["data"] = data
    values.update({k: v for k, v in flags.items() if v is not None and v is not False})
    if "data" not in values:
        _fail(
            "no data given: pass a data set name, folder or CSV file (e.g. `nnrecipe run digits`), "
            "or a --config file with a `data` key."
        )
    return values


def load_data(values: dict[str, Any], *, skip_corrupt: bool = False) -> Any:
    """The `Data` that a set of run settings names (for commands other than `run`); with
    `skip_corrupt`, unreadable images are skipped and listed in ``data.meta["corrupt_files"]``."""
    from nnrecipe.config import make_config
    from nnrecipe.data.resolve import resolve_data

    return resolve_data(make_config(values), skip_corrupt=skip_corrupt)


def _task_options(items: list[str] | None) -> dict[str, Any] | None:
    """``["head=gaussian", "bins=16", "fewshot_classes=[0,1,2]"]`` -> a dict (JSON values when
    they parse as JSON, else strings)."""
    import json

    if not items:
        return None
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--task-option takes KEY=VALUE, got {item!r}: e.g. --task-option head=gaussian.")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


@app.callback()
def _main(debug: Debug = False) -> None:
    DEBUG["on"] = debug


@app.command()
def run(
    data: DataArg = None,
    target: Target = None,
    task: Task = None,
    config: ConfigOpt = None,
    out: Annotated[str | None, typer.Option(help="run folder (default runs/<data>-<time>)")] = None,
    masks: Masks = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="built-in model: linear, mlp, cnn1d, cnn2d, resnet18, ... (default: the data's)"
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="budget of epochs (default 100; stops when it stalls)")
    ] = None,
    lr: Annotated[
        str | None, typer.Option(help="peak learning rate, or 'auto' (from the range test)")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(help="weights of a torchvision --model: .safetensors/.pth file or 'default'"),
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="a run folder whose model (all but its head) is the body")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay")] = None,
    class_weights: Annotated[
        str | None, typer.Option(help="balanced: weight the loss by inverse class frequency")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="resize folder images to this size")
    ] = None,
    categorical: Columns = None,
    continuous: Columns = None,
    group: Annotated[
        str | None, typer.Option(help="CSV column whose rows stay in one split")
    ] = None,
    users: Annotated[str | None, typer.Option(help="user column of a ratings CSV")] = None,
    items: Annotated[str | None, typer.Option(help="item column of a ratings CSV")] = None,
    y_range: Annotated[
        str | None, typer.Option(help="LO,HI output range of a ratings model")
    ] = None,
    ratings_split: Annotated[
        str | None, typer.Option(help="split a ratings table: random (default) or user")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: measured)")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or mps")] = None,
    nproc: Annotated[
        int | None, typer.Option(help="data-parallel processes on this machine (torchrun)")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="fp32 (default), bf16 or fp16 (autocast)")
    ] = None,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="train through torch.compile")
    ] = False,
    reshard: Annotated[
        bool, typer.Option(help="resume a run killed on another number of processes")
    ] = False,
    human_error: Annotated[float | None, typer.Option(help="human-level error, if known")] = None,
    tune: Annotated[
        int | None, typer.Option("--tune", help="Optuna trials before training")
    ] = None,
    tune_study: Annotated[
        str | None,
        typer.Option("--tune-study", help="reuse the search of a tune folder (no new trial)"),
    ] = None,
    ensemble: Annotated[
        int | None, typer.Option("--ensemble", help="average the top-K tuned models")
    ] = None,
    augment: Annotated[float | None, typer.Option(help="augmentation strength 0..1")] = None,
    task_option: Annotated[
        list[str] | None,
        typer.Option(help="an option of the task, KEY=VALUE (repeatable): head=gaussian, bins=16"),
    ] = None,
    seed: Seed = None,
    log: Annotated[
        list[str] | None,
        typer.Option(help="experiment trackers: tensorboard, mlflow (comma-separated or repeated)"),
    ] = None,
    log_uri: Annotated[
        str | None,
        typer.Option(help="MLflow store: sqlite:///FILE.db or a folder (default runs/mlflow)"),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue the interrupted run in this folder")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    force: Annotated[
        bool, typer.Option(help="train even when the audit or checks find errors")
    ] = False,
    quiet: Quiet = False,
    debug: Debug = False,
    open_report: Annotated[
        bool, typer.Option("--open", help="open report.html in a browser at the end")
    ] = False,
) -> None:
    """Run the whole recipe: audit, baselines, checks, training, evaluation, plots, report."""
    DEBUG["on"] = DEBUG["on"] or debug
    processes = nproc or _file_nproc(config) or _saved_nproc(resume)
    if processes > 1 and not _inside_torchrun():
        # Start the processes through torch.distributed.run; each runs this same command.
        from nnrecipe.train.distributed import launch

        raise typer.Exit(launch(processes, sys.argv[1:]))
    from nnrecipe.recipe import run as run_recipe

    flags = dict(
        target=target,
        task=task,
        masks=masks,
        out=out,
        model=model,
        epochs=epochs,
        lr=lr,
        weights=weights,
        pretrained=pretrained,
        batch_size=batch_size,
        weight_decay=weight_decay,
        class_weights=class_weights,
        image_size=image_size,
        categorical=_columns(categorical),
        continuous=_columns(continuous),
        group=group,
        users=users,
        items=items,
        y_range=_columns(y_range),
        ratings_split=ratings_split,
        threads=threads,
        device=device,
        nproc=nproc,
        precision=precision,
        compile=compile_model,
        human_error=human_error,
        seed=seed,
        force=force,
        tune_trials=tune,
        tune_study_path=tune_study,
        ensemble=ensemble,
        augment=augment,
        task_options=_task_options(task_option),
        log=log or None,
        log_uri=log_uri,
    )
    if resume is not None:
        values = {"force": force} if force else {}
    else:
        values = _call(config_values, data, config, **flags)
    command = "nnrecipe " + " ".join(sys.argv[1:])
    result = _call(
        run_recipe,
        values,
        resume=resume,
        overwrite=overwrite,
        quiet=quiet,
        command=command,
        reshard=reshard,
    )
    report = result.path / "report.html"
    if report.exists() and _rank() == 0:
        typer.echo(f"report: {report}")
        if open_report:
            from nnrecipe.report.build import open_in_browser

            open_in_browser(report)


def _inside_torchrun() -> bool:
    import os

    return "LOCAL_RANK" in os.environ


def _file_nproc(config: Path | None) -> int | None:
    """The `nproc` of a config file, if it sets one (a bad file is reported by the run)."""
    if config is None:
        return None
    from nnrecipe.config import load_config_file
    from nnrecipe.errors import ConfigError

    try:
        return int(load_config_file(config).get("nproc") or 0) or None
    except (ConfigError, ValueError, TypeError):
        return None


def _saved_nproc(resume: Path | None) -> int:
    """The number of processes an interrupted run trained on (1 for a new run)."""
    if resume is None:
        return 1
    import json

    from nnrecipe.pipeline import incomplete_dir

    try:
        saved = json.loads((incomplete_dir(resume) / "config.json").read_text())
        return int(saved["config"].get("nproc", 1))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return 1  # the run itself reports what is wrong with the folder


@app.command("runs")
def runs_cmd(
    folder: Annotated[Path, typer.Argument(help="a folder of run folders (default runs/)")] = Path(
        "runs"
    ),
    debug: Debug = False,
) -> None:
    """List the runs of a folder side by side and write FOLDER/index.html linking their reports."""
    DEBUG["on"] = DEBUG["on"] or debug
    from rich.console import Console

    from nnrecipe.runs import list_runs, runs_table, write_index

    rows = _call(list_runs, folder)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log or a pipe: no terminal width to fit
    console.print(runs_table(rows, title=f"runs in {folder}"))
    waiting = [r for r in rows if r.status == "interrupted"]
    if waiting:
        typer.echo(
            f"continue an interrupted run with `nnrecipe run --resume {folder / waiting[0].name}`"
        )
    typer.echo(f"index: {_call(write_index, folder, rows)}")


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by `nnrecipe run`")],
    open_report: Annotated[bool, typer.Option("--open", help="open the page in a browser")] = False,
    debug: Debug = False,
) -> None:
    """(Re)write a run folder's report.html from the run folder alone, and print its path."""
    DEBUG["on"] = DEBUG["on"] or debug
    from nnrecipe.report import report as write_report

    typer.echo(f"report: {_call(write_report, run_dir, open=open_report)}")


@app.command()
def audit(
    data: DataArg = None,
    target: Target = None,
    masks: Masks = None,
    task: Task = None,
    config: ConfigOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="folder for the pictures (default runs/audit-<data name>)")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="resize folder images to this size")
    ] = None,
    seed: Seed = None,
    debug: Debug = False,
) -> None:
    """Audit the data before any model: duplicates, leaks, label noise, imbalance, outliers, ...

    Prints the findings and the input statistics, writes the pictures; exits 0 when nothing is
    an error, 1 when the audit found errors, 2 when the data cannot be read (unreadable files,
    as `nnrecipe run` on the same data).
    """
    DEBUG["on"] = DEBUG["on"] or debug
    from nnrecipe.audit import audit as audit_data
    from nnrecipe.audit.stats import stats_tables

    values = config_values(
        data, config, target=target, masks=masks, task=task, image_size=image_size, seed=seed
    )
    loaded = _call(load_data, values, skip_corrupt=True)
    folder = out if out is not None else Path("runs") / f"audit-{loaded.name}"
    result = _call(audit_data, loaded, seed=int(values.get("seed", 0)), out=folder)
    from rich.console import Console

    console = Console(width=120)
    for table in stats_tables(result.stats):
        console.print(table)
    console.print(result.table() if result.findings else "audit: no findings")
    for name, path in result.artifacts.items():
        typer.echo(f"{name}: {folder / path}")
    from nnrecipe.stages.context import INPUT_ERROR_CODES

    unreadable = {f.code for f in result.at_least("error")} & INPUT_ERROR_CODES
    raise typer.Exit(0 if result.ok else 2 if unreadable else 1)


@app.command("check")
def check_cmd(
    data: DataArg = None,
    target: Target = None,
    masks: Masks = None,
    task: Task = None,
    config: ConfigOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="built-in model: linear, mlp, cnn1d, cnn2d, resnet18, ... (default: the data's)"
        ),
    ] = None,
    lr: Annotated[str | None, typer.Option(help="learning rate to check, or 'auto'")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay")] = None,
    image_size: Annotated[
        int | None, typer.Option(help="resize folder images to this size")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="folder for the range-test plot (default: none)")
    ] = None,
    seed: Seed = None,
    debug: Debug = False,
) -> None:
    """Sanity-check the built-in model on DATA before training (the run's checks stage alone).

    Loss at init, output/target shapes, batch independence, gradients, dead units, the
    learning-rate range test, overfitting one batch, real vs zeroed inputs. Prints the findings;
    exits 0 when nothing is an error, 1 when the checks found errors, 2 when the data or
    settings cannot be used.
    """
    DEBUG["on"] = DEBUG["on"] or debug
    import torch

    from nnrecipe.checks import check
    from nnrecipe.config import make_config
    from nnrecipe.models import build_model
    from nnrecipe.train.transfer import checks_optimizer

    values = _call(
        config_values,
        data,
        config,
        target=target,
        masks=masks,
        task=task,
        model=model,
        lr=lr,
        weight_decay=weight_decay,
        image_size=image_size,
        seed=seed,
    )
    cfg = _call(make_config, values)
    loaded = _call(load_data, values)
    torch.manual_seed(cfg.seed)  # the same initial weights as `nnrecipe run`
    net = _call(build_model, cfg.model, loaded, **cfg.model_options())
    factory = _call(
        checks_optimizer, cfg.lr, net, loaded, weight_decay=cfg.weight_decay, seed=cfg.seed
    )
    result = _call(check, net, loaded, optimizer=factory, seed=cfg.seed)
    typer.echo(str(result), nl=False)
    if out is not None:
        from nnrecipe.checks.plots import save_plots

        for name, file in save_plots(result, out).items():
            typer.echo(f"{name}: {out / file}")
    typer.echo(f"checked in {result.stats.get('total_seconds', 0):.1f} s")
    raise typer.Exit(0 if result.ok else 1)


@app.command("tune")
def tune_cmd(
    data: DataArg = None,
    target: Target = None,
    masks: Masks = None,
    task: Task = None,
    config: ConfigOpt = None,
    trials: Annotated[
        int, typer.Option(help="total trials of the study (finished ones count)")
    ] = 20,
    sampler: Annotated[str, typer.Option(help="tpe, random or grid")] = "tpe",
    pruner: Annotated[str, typer.Option(help="median, hyperband or none")] = "median",
    workers: Annotated[int, typer.Option(help="worker processes on this machine")] = 1,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default: SQLite in --out)")
    ] = None,
    study: Annotated[str | None, typer.Option(help="study name in the storage")] = None,
    out: Annotated[str | None, typer.Option(help="tune folder; the same folder resumes")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="built-in model: linear, mlp, cnn1d, cnn2d, resnet18, ... (default: the data's)"
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs per trial")] = None,
    max_params: Annotated[
        int | None, typer.Option(help="satisficing: at most this many parameters")
    ] = None,
    max_latency_ms: Annotated[float | None, typer.Option(help="satisficing: ms per sample")] = None,
    threads: Annotated[int, typer.Option(help="torch threads per worker")] = 1,
    repeats: Annotated[
        int, typer.Option(help="retrain the best settings with N other seeds (score noise)")
    ] = 3,
    seed: Seed = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Search hyperparameters with Optuna (TPE, random or grid), pruning hopeless trials; the
    tune folder then holds the best trial's model (for predict and diagnose) and report.html."""
    DEBUG["on"] = DEBUG["on"] or debug
    from nnrecipe.tune import tune

    values = _call(
        config_values, data, config, target=target, masks=masks, task=task, model=model, seed=seed
    )
    the_data = _call(load_data, values)
    result = _call(
        tune,
        the_data,
        trials=trials,
        sampler=sampler,
        pruner=pruner,
        workers=workers,
        storage=storage,
        study=study,
        out=out,
        model=values.get("model"),
        space=values.get("tune_space"),
        epochs=epochs or values.get("tune_epochs") or values.get("epochs") or 20,
        max_params=max_params,
        max_latency_ms=max_latency_ms,
        seed=values.get("seed", 0),
        threads=threads,
        quiet=quiet,
        repeats=repeats,
        settings=values,
        command="nnrecipe " + " ".join(sys.argv[1:]),
    )
    if not quiet:
        typer.echo(str(result))
    typer.echo(f"tune folder: {result.folder}")
    if result.final is None:
        raise typer.Exit(1)
    typer.echo(f"model: {result.folder / 'model.safetensors'} (trial {result.best_trial})")
    typer.echo(f"report: {result.folder / result.final['report']}")
    typer.echo(f"continue: {result.final['next']}")


@app.command("diagnose")
def diagnose_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by nnrecipe run")],
    human_error: Annotated[
        float | None, typer.Option(help="human-level (Bayes) error estimate")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option(help="rescore the saved model on every split (counts a test look)")
    ] = False,
    learning_curve: Annotated[
        bool, typer.Option(help="train on growing subsets: error vs data size")
    ] = False,
    debug: Debug = False,
) -> None:
    """Ng's diagnosis of a run: avoidable bias, variance, data mismatch, overfitting to valid."""
    DEBUG["on"] = DEBUG["on"] or debug
    from nnrecipe.diagnose import diagnose, table_text

    result = _call(
        diagnose, run_dir, human_error=human_error, evaluate=evaluate, learning_curve=learning_curve
    )
    typer.echo(table_text(result))
    if result.findings:
        typer.echo(str(result))
    for name, path in result.artifacts.items():
        typer.echo(f"{name.replace('_', ' ')}: {run_dir / path}")


@app.command()
def explain(
    code: Annotated[str | None, typer.Argument(help="a finding code, e.g. loss-at-init")] = None,
    list_codes: Annotated[bool, typer.Option("--list", help="list every finding code")] = False,
) -> None:
    """Explain a finding code: what it means, why it matters, how to fix it."""
    from nnrecipe.findings import catalog
    from nnrecipe.findings import explain as explain_code

    if list_codes or code is None:
        codes = catalog()
        width = max(map(len, codes))
        typer.echo("\n".join(f"{c:<{width}}  {codes[c].title}" for c in sorted(codes)))
        return
    typer.echo(_call(explain_code, code))


@app.command()
def datasets() -> None:
    """List the built-in data sets."""
    from nnrecipe.data.builtin import names

    typer.echo("\n".join(names()))


@app.command()
def env(
    torch_check: Annotated[
        bool, typer.Option("--torch", help="also import torch: device, CUDA, default threads")
    ] = False,
) -> None:
    """Versions, machine and GPUs, for bug reports (``--torch`` adds what torch itself sees)."""
    from nnrecipe.versions import machine, versions

    for k, v in {**versions(), **machine()}.items():
        typer.echo(f"{k}: {v}")
    if torch_check:
        import torch

        from nnrecipe.threads import pick_device

        typer.echo(f"torch device: {pick_device()}")
        typer.echo(f"cuda available: {torch.cuda.is_available()}")
        typer.echo(f"torch threads (default): {torch.get_num_threads()}")


@app.command("predict")
def predict_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by `nnrecipe run`")],
    inputs: Annotated[str, typer.Argument(help="an image, a folder of images, or a .npy array")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV file of predictions")] = None,
    proba: Annotated[bool, typer.Option(help="class probabilities instead of labels")] = False,
) -> None:
    """Predict with a trained run: labels by name (or values), one row per input."""
    import numpy as np

    from nnrecipe.predictor import load

    predictor = _call(load, run_dir)
    source: Any = np.load(inputs, allow_pickle=False) if inputs.endswith(".npy") else inputs
    pred = _call(predictor.predict, source, proba=proba)
    rows = [list(map(str, r)) if proba else [str(r)] for r in pred]
    header = [f"p_{c}" for c in predictor.classes or []] if proba else ["prediction"]
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    from nnrecipe.io import atomic_write_text

    atomic_write_text(out, text)
    typer.echo(f"{len(rows)} predictions written to {out}")


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by `nnrecipe run`")],
    format: Annotated[str, typer.Option("--format", help="onnx or torchscript")] = "onnx",
    out: Annotated[Path | None, typer.Option("--out", help="file to write")] = None,
) -> None:
    """Export a trained run's model (ONNX for onnxruntime, or TorchScript)."""
    from nnrecipe.predictor import load

    predictor = _call(load, run_dir)
    suffix = {"onnx": ".onnx", "torchscript": ".pt"}.get(format, ".bin")
    target = out or run_dir / f"model{suffix}"
    path = _call(predictor.export, target, format=format)
    typer.echo(f"exported: {path} (inputs: preprocessed tensors, as nr.load(run).inputs gives)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
