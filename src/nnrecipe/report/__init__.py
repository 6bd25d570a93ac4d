"""The report: one self-contained HTML page per run (`nr.report`, `nnrecipe report RUN_DIR`).

Light on import: matplotlib and the page builder load inside `report`.
"""

from __future__ import annotations

from pathlib import Path

from nnrecipe.report.build import open_in_browser, write_report


def report(run_dir: str | Path, *, open: bool = False) -> Path:  # noqa: A002 (the CLI's --open)
    """(Re)write ``report.html`` in a run folder, from the run folder alone.

    The page shows, top to bottom: a verdict strip (one line per stage), the findings with
    their explanations, the data, the baselines against the model, training curves and
    prediction dynamics, the inside of the model (filters, activations, gradient norms), the
    results (confusion matrix, per-class metrics, top losses), the diagnosis and tuning, and
    what is needed to reproduce the run. One file, CSS inline, images embedded, no script: it
    opens from ``file://`` with no network. Everything from the data or the user is escaped.

    Args:
        run_dir: a folder written by `nr.run` / ``nnrecipe run`` (or by ``nnrecipe tune``:
            its page of trials, importances and noise).
        open: open the page in the default web browser.

    Returns:
        The path of ``report.html``.

    Raises:
        ConfigError: `run_dir` does not exist or is not a run folder.

    Example:
        >>> import nnrecipe as nr
        >>> run = nr.run("iris", epochs=2, quiet=True, out=str(tmp / "iris"))  # doctest: +SKIP
        >>> nr.report(run.path).name  # doctest: +SKIP
        'report.html'
    """

    from nnrecipe.tune.report import is_tune_folder
    from nnrecipe.tune.report import write_report as write_tune_report

    # A tune folder (`nnrecipe tune`) has its own page: trials, importances, noise.
    path = write_tune_report(run_dir) if is_tune_folder(run_dir) else write_report(run_dir)
    if open:
        open_in_browser(path)
    return path


__all__ = ["report"]
