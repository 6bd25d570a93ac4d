"""`nr.run`: the whole recipe into a run folder, its report included.

The pipeline (`nnrecipe.pipeline`) runs the stages up to the diagnosis; this module, one layer
above the report, adds the report stage so that the pipeline never imports the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnrecipe.config import RunConfig
from nnrecipe.data import Data
from nnrecipe.io import atomic_write_text
from nnrecipe.pipeline import RunResult
from nnrecipe.pipeline import run as run_stages
from nnrecipe.report.build import write_report
from nnrecipe.report.collect import collect
from nnrecipe.runs import refresh_index
from nnrecipe.schema import ReportResult
from nnrecipe.stages import RunContext, Stage
from nnrecipe.train.distributed import is_main


def stage_report(ctx: RunContext) -> ReportResult:
    """Save what needs the data and the model (``report/data.json``), then write
    ``report.html`` from the run folder alone."""
    extras = collect(ctx.data, ctx.learner, ctx.model)
    atomic_write_text(ctx.dir / "report" / "data.json", json.dumps(extras))
    path = write_report(ctx.dir)
    size = path.stat().st_size
    ctx.say(f"report written ({size / 1e6:.2f} MB)")
    return ReportResult(file="report.html", bytes=size)


REPORT_STAGE = Stage("report", stage_report)  # last: the page shows what every stage left


def run(
    config: RunConfig | dict[str, Any] | str | None = None,
    *,
    data: Data | tuple | None = None,
    model: Any = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    say: Any = None,
    command: str | None = None,
    **overrides: Any,
) -> RunResult:
    """Run the whole recipe and write a run folder with its report.

    Stages: audit → baselines → checks → (tune) → train → evaluate → (ensemble) → plots →
    diagnose → report, each saving a typed result in ``stages/NAME.json``.

    Args:
        config: a data set name / path, a dict of settings, or a `RunConfig`.
        data: your own data (an `nr.Data` or a tuple ``(x_train, y_train, x_valid, y_valid)``)
            instead of a name or path; `config`'s ``data`` is then only its label.
        model: your own model instead of the built-in one: an ``nn.Module`` in its initial
            state (each stage trains a copy), or a function ``data -> nn.Module``.
        resume: the run folder of a killed run to continue exactly where it stopped.
        overwrite: replace an existing run folder.
        quiet: no progress output.
        **overrides: settings (``epochs=5``, ``out="runs/x"``, ...) over `config`;
            ``log=["tensorboard", "mlflow"]`` also logs the run there (`nnrecipe.tracking`).

    Returns:
        A `RunResult` with the run folder, ``summary.json``'s content and all findings.

    Raises:
        NnrecipeError: a problem with the data, the config or the model; the message says how
            to fix it. Nothing is left half-written (a failed training keeps its checkpoint in
            the ``.incomplete`` folder for ``--resume``).
    """
    result = run_stages(
        config,
        data=data,
        model=model,
        resume=resume,
        overwrite=overwrite,
        quiet=quiet,
        say=say,
        command=command,
        final_stages=[REPORT_STAGE],
        **overrides,
    )
    if is_main():
        refresh_index(result.path)  # runs/index.html lists this run too (runs/ only)
    return result
