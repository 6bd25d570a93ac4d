"""Experiment tracking where people already look: TensorBoard and MLflow, fed by the run.

``nnrecipe run DATA --log tensorboard,mlflow`` (``nr.run(..., log=[...])``, ``log = [...]`` in a
config file) logs, as the run goes: the resolved settings (parameters), every epoch's train
loss, valid loss and valid metrics, and at the end the findings, the final scores and the
report. Both libraries are optional extras (``pip install 'nnrecipe[tensorboard]'`` /
``'nnrecipe[mlflow]'``); a missing one stops the run before any work, in one sentence.

Where the logs go:
- TensorBoard: event files in ``RUN/tensorboard/`` (``tensorboard --logdir runs`` shows every
  run of the folder side by side).
- MLflow: a SQLite store shared by the runs of a folder, ``runs/mlflow/mlflow.db`` with the
  artifacts beside it (one store per folder, so MLflow compares the runs; a store inside each
  run folder would be one run per store), or the store `--log-uri` names: ``sqlite:///FILE``,
  a ``.db`` file, a folder (``FOLDER/mlflow.db``) or a ``file:`` URI (MLflow's file store,
  which MLflow 3 refuses unless ``MLFLOW_ALLOW_FILE_STORE=true``).
  Never a server: nothing is sent over the network.

A logger that fails during the run (a full disk, a locked database) says so once and stops;
the run goes on.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError
from nnrecipe.io import atomic_write_json, read_json

# tracker -> the module it imports (the pip extra has the tracker's name)
LIBRARIES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
STATE_FILE = "tracking.json"  # the MLflow run id and the last logged step, for --resume


def require(names: Sequence[str] | None, *, log_uri: str | None = None) -> None:
    """Fail before any work when a tracker's library is missing or its store is not local.

    Raises:
        ConfigError: names the pip extra to install, or the store URI that was refused.
    """
    for name in names or ():
        module = LIBRARIES.get(name)
        if module is None:
            raise ConfigError(f"Unknown tracker {name!r}: --log takes tensorboard and/or mlflow.")
        if not _installed(module):
            raise ConfigError(
                f"--log {name} needs the {module} package, which is not installed: "
                f"pip install 'nnrecipe[{name}]'."
            )
    if log_uri is not None:
        mlflow_store(log_uri, Path("runs"))  # raises for a server URI


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (mlflow takes seconds)."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: an import that is known to fail
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def mlflow_store(log_uri: str | None, folder: Path) -> tuple[str, str | None]:
    """(tracking URI, artifact folder or None for the store's own) of the MLflow store:
    `log_uri`, or the SQLite store shared by the runs of `folder`."""
    if log_uri is None:
        root = (folder / "mlflow").resolve()
        return f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts")
    scheme = log_uri.split(":", 1)[0].lower() if ":" in log_uri else ""
    if len(scheme) == 1:  # a Windows drive letter, C:\\runs: a path
        scheme = ""
    if scheme == "sqlite":
        rest = log_uri.split(":///", 1)[1] if ":///" in log_uri else ""
        if not rest:
            raise ConfigError(
                f"--log-uri {log_uri!r} names no database file: pass sqlite:///PATH.db."
            )
        return log_uri, str(Path(rest).expanduser().resolve().parent / "artifacts")
    if scheme == "file":
        return log_uri, None
    if scheme:
        raise ConfigError(
            f"--log-uri {log_uri!r} names a server: nnrecipe logs to local MLflow stores only; "
            "pass sqlite:///PATH.db, a .db file or a folder."
        )
    path = Path(log_uri).expanduser().resolve()
    db = path if path.suffix == ".db" else path / "mlflow.db"
    return f"sqlite:///{db}", str(db.parent / "artifacts")


class Tracker:
    """The run's loggers behind one `Learner` callback (``on_fit_start`` logs the resolved
    settings, ``on_epoch_end`` the epoch's figures) plus the run's end (`finish`, `close`).

    `params` gives the resolved settings from the Learner once training starts (tuning and
    the batch size are resolved by then), or the configured ones from None."""

    def __init__(
        self,
        loggers: list[Any],
        *,
        state: Path,
        params: Callable[[Any], dict[str, Any]],
        say: Callable[[str], None] = print,
    ) -> None:
        self.loggers, self.state, self.params, self.say = loggers, state, params, say
        saved = read_json(state, what="tracking state") if state.exists() else {}
        self.step = int(saved.get("step", 0))  # the last epoch logged
        self._base = int(saved.get("base", 0))  # steps before the current fit's epoch 1
        self._params_logged = False

    def _each(self, method: str, *args: Any) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, method)(*args)
            except Exception as e:  # a tracker's fault must not cost the training
                self.loggers.remove(logger)
                self.say(f"warning: {logger.name} logging stopped ({type(e).__name__}: {e})")

    def on_fit_start(self, learner: Any) -> None:
        # Steps number the epochs across fits (fine_tune fits twice, each from epoch 1): a
        # fresh fit starts after the last logged step, a resumed one where its fit started.
        if getattr(learner, "resumed_from", None) is None:
            self._base = self.step
        self._each("log_params", self.params(learner))
        self._params_logged = True
        for record in learner.history:  # checkpointed before a kill, not yet logged
            if self._base + int(record["epoch"]) > self.step:
                self._log(record)

    def on_epoch_end(self, learner: Any) -> None:
        self._log(learner.history[-1])

    def _log(self, record: dict[str, Any]) -> None:
        self.step = self._base + int(record["epoch"])
        values = {
            k: float(v)
            for k, v in record.items()
            if k not in ("epoch", "phase", "phase_epoch") and isinstance(v, int | float)
        }
        self._each("log_metrics", self.step, values)
        self._save()

    def _save(self) -> None:
        saved = {"step": self.step, "base": self._base}
        for logger in self.loggers:
            saved.update(getattr(logger, "state", {}))
        atomic_write_json(self.state, saved)

    def finish(
        self,
        *,
        findings: list[dict[str, Any]],
        summary: dict[str, Any],
        report: Path | None,
        final_dir: Path,
        status: str = "FINISHED",
    ) -> list[str]:
        """Log the findings, the final scores and the report, close every logger as `status`
        and return one line per logger saying where to look. A run stopped before training
        (the checks found errors) logs its configured settings instead of the resolved ones."""
        if not self._params_logged:
            try:
                params = self.params(None)
            except Exception:  # the run is stopping: what went wrong is its own error
                params = {}
            self._each("log_params", params)
        self._each("log_end", findings, final_scores(summary), report, final_dir)
        lines = [logger.where(final_dir) for logger in self.loggers]
        self.close(status)
        return lines

    def close(self, status: str) -> None:
        """Close every logger; MLflow marks its run `status` (FINISHED, KILLED, FAILED)."""
        self._each("close", status)
        self.loggers = []


def final_scores(summary: dict[str, Any]) -> dict[str, float]:
    """``{"final_valid_accuracy": ..., "final_test_loss": ...}`` from ``summary.json``."""
    out: dict[str, float] = {}
    for split in ("train", "train_dev", "valid", "test"):
        for k, v in (summary.get(split) or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[f"final_{split}_{k}"] = float(v)
    return out


def open_tracker(
    names: Sequence[str],
    *,
    run_dir: Path,
    final_dir: Path,
    experiment: str,
    log_uri: str | None,
    params: Callable[[Any], dict[str, Any]],
    tags: dict[str, str],
    say: Callable[[str], None] = print,
) -> Tracker:
    """The loggers `names` of a run being written in `run_dir` (renamed `final_dir` at the
    end); a resumed run continues its MLflow run (its id is in ``tracking.json``)."""
    require(names, log_uri=log_uri)
    state = run_dir / STATE_FILE
    saved = read_json(state, what="tracking state") if state.exists() else {}
    loggers: list[Any] = []
    for name in names:
        if name == "tensorboard":
            from nnrecipe.tracking.tensorboard_logger import TensorBoardLogger

            loggers.append(TensorBoardLogger(run_dir / "tensorboard"))
        else:
            from nnrecipe.tracking.mlflow_logger import MlflowLogger

            uri, artifacts = mlflow_store(log_uri, final_dir.parent)
            uri = saved.get("mlflow_uri") or uri  # resumed from elsewhere: the same store
            loggers.append(
                MlflowLogger(
                    uri,
                    artifacts=artifacts,
                    experiment=experiment,
                    run_name=final_dir.name,
                    run_id=saved.get("mlflow_run_id"),
                    tags=tags,
                )
            )
    tracker = Tracker(loggers, state=state, params=params, say=say)
    tracker._save()
    return tracker


__all__ = ["LIBRARIES", "Tracker", "final_scores", "mlflow_store", "open_tracker", "require"]
