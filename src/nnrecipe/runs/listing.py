"""Read the run folders of a folder into rows (`list_runs`) and print them (`runs_table`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError, NnrecipeError
from nnrecipe.io import read_json
from nnrecipe.schema import Manifest, Summary, TrainResult, read_typed

SEVERITIES = ("error", "warning", "info")
SUFFIX = ".incomplete"  # a run being written, or interrupted: .NAME.incomplete


@dataclass
class RunRow:
    """One run folder as the list shows it (None: not recorded)."""

    name: str
    path: Path
    status: str  # "finished", "interrupted" or "unreadable"
    problem: str | None = None  # why an unreadable folder is unreadable
    created: str | None = None
    data: str | None = None
    task: str | None = None
    model: str | None = None
    epochs: str | None = None  # "12/40": epochs trained of the maximum
    lr: Any = None
    batch_size: int | None = None
    metric: str | None = None  # the task's primary metric
    valid: float | None = None
    test: float | None = None
    findings: dict[str, int] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        """The run's report page, when it has one."""
        page = self.path / "report.html"
        return page if page.is_file() else None

    def findings_text(self) -> str:
        plural = {"error": "errors", "warning": "warnings"}
        parts = [f"{n} {plural.get(s, s) if n > 1 else s}" for s, n in self.findings.items() if n]
        return ", ".join(parts) or "none"


def _is_store(path: Path) -> bool:
    """The MLflow store of the folder's runs (``--log mlflow``): not a run."""
    return (path / "mlflow.db").exists() or (path / "mlruns").is_dir()


def list_runs(folder: str | Path) -> list[RunRow]:
    """Every run folder in `folder`, newest first; interrupted runs (``.NAME.incomplete``)
    included, anything else that is not a run folder listed as unreadable.

    Raises:
        ConfigError: `folder` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(
            f"{str(root)!r} is not a folder: pass the folder that holds the run folders "
            "(default runs/)."
        )
    rows = []
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or _is_store(entry):
            continue
        name = entry.name
        if name.startswith("."):
            if not (name.endswith(SUFFIX) and len(name) > len(SUFFIX) + 1):
                continue  # hidden: not ours to list
            rows.append(read_run(entry, name=name[1 : -len(SUFFIX)], interrupted=True))
        else:
            rows.append(read_run(entry, name=name))
    rows.sort(key=lambda r: r.created or "", reverse=True)
    return rows


def read_run(path: Path, *, name: str, interrupted: bool = False) -> RunRow:
    """One folder as a row: its typed files, or why they cannot be read."""
    try:
        return _read(path, name=name, interrupted=interrupted)
    except (NnrecipeError, OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        return RunRow(name=name, path=path, status="unreadable", problem=_sentence(e))


def _read(path: Path, *, name: str, interrupted: bool) -> RunRow:
    if not (path / "manifest.json").exists() and not (path / "config.json").exists():
        raise ConfigError("not a run folder of nnrecipe (no manifest.json, no config.json)")
    saved = read_json(path / "config.json", what="run config")
    config, resolved = saved.get("config"), saved.get("resolved") or {}
    data = saved.get("data") or {}
    if not isinstance(config, dict) or not isinstance(data, dict):
        raise ConfigError(f"The run config {str(path / 'config.json')!r} has no settings")
    settings = {**config, **resolved}
    task = data.get("task") or {}
    row = RunRow(
        name=name,
        path=path,
        status="interrupted" if interrupted else "finished",
        data=str(data.get("name") or config.get("data")),
        task=task.get("name"),
        model=settings.get("model"),
        lr=settings.get("lr"),
        batch_size=settings.get("batch_size"),
        metric=task.get("primary_metric"),
    )
    max_epochs = config.get("epochs")
    if (path / "manifest.json").exists():
        manifest = read_typed(path / "manifest.json", Manifest)
        row.created = manifest.created or None
        if not interrupted and not manifest.finished:
            row.status = "interrupted"
    if interrupted:
        row.epochs = f"{_epochs_in_csv(path / 'metrics.csv')}/{max_epochs}"
        return row
    summary = read_typed(path / "summary.json", Summary)
    train_file = path / "stages" / "train.json"
    done = read_typed(train_file, TrainResult).epochs_run if train_file.exists() else None
    row.epochs = f"{done}/{max_epochs}" if done is not None else str(max_epochs)
    if row.metric:
        row.valid = (summary.valid or {}).get(row.metric)
        row.test = (summary.final_test or summary.test or {}).get(row.metric)
    severities = [str(f.get("severity")) for f in summary.findings]
    row.findings = {s: severities.count(s) for s in SEVERITIES}
    return row


def _epochs_in_csv(path: Path) -> int:
    """Epochs trained so far by an interrupted run (rows of its metrics.csv)."""
    try:
        with path.open(newline="") as f:
            return sum(1 for _ in csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return 0


def _sentence(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def runs_table(rows: list[RunRow], *, title: str = "runs") -> Any:
    """A `rich.table.Table` of the rows (every user string as plain text, never markup)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    columns = ("run", "status", "data", "task", "model", "epochs", "lr", "batch")
    for col in (*columns, "metric", "valid", "test", "findings"):
        table.add_column(
            col, overflow="fold", justify="right" if col in ("valid", "test") else "left"
        )
    colors = {"finished": "green", "interrupted": "yellow", "unreadable": "red"}
    for r in rows:
        if r.status == "unreadable":
            cells = [r.name, r.status, r.problem or "", *[""] * 9]
        else:
            cells = [
                r.name,
                r.status,
                r.data or "—",
                r.task or "—",
                r.model or "—",
                r.epochs or "—",
                "—" if r.lr is None else str(r.lr),
                "—" if r.batch_size is None else str(r.batch_size),
                r.metric or "—",
                score_text(r.valid),
                score_text(r.test),
                r.findings_text() if r.findings else "—",
            ]
        texts = [Text(str(c)) for c in cells]
        texts[1].stylize(colors.get(r.status, ""))
        table.add_row(*texts)
    return table
