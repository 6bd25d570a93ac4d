"""Findings: what a stage found, with a stable code, a severity, evidence and a fix.

`Finding` and `Result` are shared by every stage (audit, checks, diagnosis). The meaning of each
code lives in the `codes.py` of the stage that emits it; `explain(code)` looks it up.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# Modules holding a `CODES: dict[str, Code]` each; a new stage adds its module here.
CATALOG_MODULES = (
    "nnrecipe.audit.codes",
    "nnrecipe.checks.codes",
    "nnrecipe.checks.distribution",
    "nnrecipe.checks.fewshot",
    "nnrecipe.checks.word_vectors",
    "nnrecipe.train.codes",
    "nnrecipe.diagnose.codes",
    "nnrecipe.tune.codes",
    "nnrecipe.watch.codes",
)


class Severity(StrEnum):
    """How bad a finding is; compares as its string value ("error", "warning", "info")."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Code:
    """What a finding code means, why it matters and how to fix it (for `nnrecipe explain`)."""

    code: str
    title: str
    why: str
    fix: str
    # The tasks this code is for (their `Task.name`); None: every task that `applies` it.
    tasks: tuple[str, ...] | None = None


@dataclass
class Finding:
    """One thing a stage found.

    Attributes:
        code: stable identifier, e.g. ``"loss-at-init"``; ``nnrecipe explain CODE`` explains it.
        severity: ``"error"``, ``"warning"`` or ``"info"``.
        message: one sentence saying what was found, with the numbers.
        evidence: JSON-able details (measured values, offending sample indices per split, ...).
        fix: what to do about it.
    """

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)

    def __repr__(self) -> str:
        msg = self.message if len(self.message) <= 90 else self.message[:87] + "..."
        return f"Finding({self.severity} {self.code}: {msg})"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d


@dataclass
class Result:
    """The findings of one stage (``nr.check``, ``nr.audit``, ...), plus its measurements.

    ``Result.ok`` is true when no finding is an error. Prints as a table; in Jupyter it renders as
    HTML.
    """

    findings: list[Finding] = field(default_factory=list)
    stage: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.severity == Severity.ERROR for f in self.findings)

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def at_least(self, severity: str | Severity) -> list[Finding]:
        """The findings at `severity` or worse, worst first."""
        rank = Severity(severity).rank
        hits = [f for f in self.findings if f.severity.rank >= rank]
        return sorted(hits, key=lambda f: -f.severity.rank)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "stats": self.stats,
            "artifacts": self.artifacts,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def table(self) -> Any:
        """A `rich.table.Table` of the findings, worst first."""
        from rich.table import Table

        title = f"{self.stage or 'nnrecipe'}: " + ("ok" if self.ok else "errors found")
        table = Table(title=title, show_lines=True)
        for col in ("severity", "code", "message", "fix"):
            table.add_column(col, overflow="fold")
        colors = {"error": "red", "warning": "yellow", "info": "cyan"}
        for f in self.at_least("info"):
            sev = f"[{colors[f.severity.value]}]{f.severity.value}[/]"
            table.add_row(sev, f.code, f.message, f.fix)
        return table

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=120, record=True, force_terminal=False, color_system=None)
        with console.capture() as capture:
            if self.findings:
                console.print(self.table())
            else:
                console.print(f"{self.stage or 'nnrecipe'}: no findings")
        return capture.get()

    def __repr__(self) -> str:
        counts = {sev: 0 for sev in ("error", "warning", "info")}
        for f in self.findings:
            counts[str(f.severity)] += 1
        codes = ", ".join(sorted(self.codes)[:6]) + (", ..." if len(self.codes) > 6 else "")
        return (
            f"Result({self.stage or 'findings'}: {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} info{': ' + codes if codes else ''})"
        )

    def _repr_html_(self) -> str:
        from nnrecipe.notebook import result_html

        return result_html(self)


def catalog() -> dict[str, Code]:
    """Every known finding code, from the stages' `codes.py` modules."""
    codes: dict[str, Code] = {}
    for name in CATALOG_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        codes.update(getattr(module, "CODES", {}))
    return codes


def code_applies(code: str, task: Any) -> bool:
    """Whether a stage should run the check for `code` on `task`: the code is for this task
    (`Code.tasks`) and the task does not opt out (`Task.applies`)."""
    entry = catalog().get(code)
    if entry is not None and entry.tasks is not None and task.name not in entry.tasks:
        return False
    return bool(task.applies(code))


def explain(code: str) -> str:
    """What a finding code means, why it matters, and how to fix it.

    Raises:
        ConfigError: the code is unknown (the message lists the known ones).
    """
    from nnrecipe.errors import ConfigError

    known = catalog()
    code = code.strip().lower().replace("_", "-")  # LOSS_AT_INIT and Loss-At-Init work too
    if code not in known:
        raise ConfigError(
            f"Unknown finding code {code!r}: known codes are {', '.join(sorted(known))}."
        )
    c = known[code]
    return f"{c.code}: {c.title}\n\nWhy it matters:\n{c.why}\n\nHow to fix it:\n{c.fix}\n"
