"""Reading a run folder defensively: every file may be missing or from an older version."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError
from nnrecipe.schema import RESULT_TYPES, Summary, parse
from nnrecipe.tasks import Task, task_from_description


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _metrics(path: Path, damaged: dict[str, str]) -> list[dict[str, Any]]:
    """metrics.csv's rows with numbers; a damaged file is named in `damaged` and read as none."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        damaged["metrics.csv"] = f"{str(path)!r} cannot be read ({type(e).__name__}): no curves."
        return []
    if rows and ("epoch" not in rows[0] or any(None in r for r in rows)):
        damaged["metrics.csv"] = f"{str(path)!r} is not the table nnrecipe writes: no curves."
        return []
    return [{str(k): _number(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


def display_name(path: Path) -> str:
    """A run folder's final name (the report is written while it is still ``.NAME.incomplete``)."""
    name = path.name
    if name.startswith(".") and name.endswith(".incomplete"):
        return name[1 : -len(".incomplete")]
    return name


def valid_metric(block: Any, metric: str) -> float | None:
    if isinstance(block, dict):
        v = block.get("valid", {})
        if isinstance(v, dict) and isinstance(v.get(metric), int | float):
            return float(v[metric])
    return None


def first_of(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) not in (None, "", [], {}):
            return d[k]
    return None


@dataclass
class RunFolder:
    """The files of a run folder, loaded once; anything missing is None / empty."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    monitor: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The stages' typed results (`nnrecipe.schema`), read by attribute; a stage whose file does
    # not parse is left out and named in `damaged`.
    results: dict[str, Any] = field(default_factory=dict)
    typed_summary: Summary = field(default_factory=Summary)
    damaged: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> RunFolder:
        """Read a run folder.

        Raises:
            ConfigError: `path` is not a run folder (no config.json).
        """
        p = Path(path)
        if not p.is_dir():
            raise ConfigError(
                f"Run folder {str(p)!r} does not exist: pass a folder written by `nnrecipe run`."
            )
        if not (p / "config.json").is_file():
            raise ConfigError(
                f"{str(p)!r} is not a run folder (it has no config.json): pass a folder written by "
                "`nnrecipe run`, e.g. runs/digits-20260101-120000."
            )
        run = cls(p)
        run.config = _json(p / "config.json") or {}
        run.summary = _json(p / "summary.json") or {}
        try:
            run.typed_summary = parse(Summary, run.summary, where=str(p / "summary.json"))
        except ConfigError as e:
            run.damaged["summary.json"] = str(e)
        stage_dir = p / "stages"
        if stage_dir.is_dir():
            for f in sorted(stage_dir.glob("*.json")):
                value = _json(f)
                kind = RESULT_TYPES.get(f.stem)
                if value is None or kind is None:
                    continue
                try:
                    run.results[f.stem] = parse(kind, value, where=str(f))
                except ConfigError as e:
                    run.damaged[f"stages/{f.name}"] = str(e)
                    continue
                run.stages[f.stem] = run.results[f.stem].model_dump(mode="json")
        if (p / "metrics.csv").is_file():
            run.metrics = _metrics(p / "metrics.csv", run.damaged)
        monitor = _json(p / "monitor.json")
        run.monitor = monitor if isinstance(monitor, dict) and monitor.get("epochs") else None
        run.extras = _json(p / "report" / "data.json") or {}
        return run

    # -- helpers --------------------------------------------------------------------------------
    def result(self, name: str) -> Any:
        """A stage's typed result (`nnrecipe.schema.RESULT_TYPES[name]`), or None."""
        return self.results.get(name)

    def stage(self, name: str) -> dict[str, Any] | None:
        value = self.stages.get(name)
        return value if isinstance(value, dict) else None

    def part(self, stage: str, key: str, kind: type = dict) -> Any:
        """``stages/<stage>.json[key]`` if it has the expected type, else an empty one."""
        value = (self.stage(stage) or {}).get(key)
        return value if isinstance(value, kind) else kind()

    def flat(self, stage: str) -> dict[str, Any]:
        """A stage's result with its ``stats`` (a `Result.to_dict()`) lifted to the top level."""
        st = self.stage(stage) or {}
        stats = st.get("stats")
        return {**st, **stats} if isinstance(stats, dict) else dict(st)

    def findings_of(self, stage: str) -> list[dict[str, Any]]:
        return [f for f in self.part(stage, "findings", list) if isinstance(f, dict)]

    def file(self, relative: str) -> bytes | None:
        """The bytes of a file inside the run folder; None if missing or outside the folder
        (a stage JSON naming ``../../etc/passwd`` embeds nothing)."""
        try:
            root = self.path.resolve()
            target = (root / relative).resolve()
            if root not in target.parents or not target.is_file():
                return None
            return target.read_bytes()
        except (OSError, ValueError):
            return None

    @property
    def data(self) -> dict[str, Any]:
        return self.config.get("data") or {}

    @property
    def task(self) -> dict[str, Any]:
        return self.data.get("task") or {}

    @property
    def classes(self) -> list[str]:
        names = self.extras.get("classes") or self.task.get("classes") or []
        return [str(c) for c in names]

    @property
    def task_object(self) -> Task:
        """The run's task, rebuilt from its description in config.json."""
        return task_from_description(self.task or {"name": self.extras.get("task")})

    @property
    def metric(self) -> str:
        return self.task.get("primary_metric") or self.task_object.primary_metric

    def class_name(self, c: Any) -> str:
        try:
            return self.classes[int(c)]
        except (ValueError, TypeError, IndexError):
            return str(c)

    def all_findings(self) -> list[tuple[str, dict[str, Any]]]:
        """(stage, finding dict) for every finding: the stages' results first, then the run's
        own (summary.json) that no stage file holds."""
        seen: set[tuple[str, str]] = set()
        out: list[tuple[str, dict[str, Any]]] = []
        for name, value in self.stages.items():
            if isinstance(value, dict) and isinstance(value.get("findings"), list):
                for f in value["findings"]:
                    if isinstance(f, dict) and "code" in f:
                        seen.add((str(f.get("code")), str(f.get("message"))))
                        out.append((name, f))
        for f in self.summary.get("findings") or []:
            if isinstance(f, dict) and (str(f.get("code")), str(f.get("message"))) not in seen:
                out.append(("run", f))
        rank = {"error": 0, "warning": 1, "info": 2}
        out.sort(key=lambda sf: rank.get(str(sf[1].get("severity")), 3))
        return out
