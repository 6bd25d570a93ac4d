"""The run folder's typed files: one result type per stage, the summary and the manifest.

Each stage of `nnrecipe run` returns one of these; the pipeline saves it as
``stages/NAME.json`` and the report and `nnrecipe diagnose` read it back through the same type,
by attribute. A file that does not parse is one sentence naming it (`read_typed`), never a
guess. `SCHEMA_VERSION` changes whenever a type changes incompatibly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnrecipe.errors import ConfigError
from nnrecipe.io import read_json

SCHEMA_VERSION = 2

Metrics = dict[str, float | None]


class _Typed(BaseModel):
    # Newer nnrecipe versions may add fields: an older reader keeps what it knows.
    model_config = ConfigDict(extra="ignore")


class FindingsResult(_Typed):
    """A `Result` of findings (audit, checks, diagnose): what `Result.to_dict()` writes."""

    stage: str = ""
    ok: bool = True
    findings: list[dict[str, Any]] = Field(default_factory=list)
    stats: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict)


class BaselinesResult(_Typed):
    """Every baseline's metrics per split, the human error if given, the loss at init."""

    models: dict[str, dict[str, Metrics]] = Field(default_factory=dict)
    human_error: float | None = None
    expected_loss_at_init: float | None = None

    def valid(self, metric: str) -> dict[str, float]:
        """{baseline: its valid `metric`} for the baselines that have it."""
        return {
            k: float(v["valid"][metric])
            for k, v in self.models.items()
            if isinstance(v.get("valid", {}).get(metric), int | float)
        }


class TrainResult(_Typed):
    epochs_run: int
    best_epoch: int | None = None
    best_score: float | None = None
    stopped_early: bool = False
    budget: int | None = None  # the epochs allowed (auto stops sooner when the metric stalls)
    stopped: str | None = None  # why training stopped, in words (the line the run prints)
    threads: int | None = None
    batch_size: int | None = None
    parameters: int | None = None
    model: str | None = None  # the built-in model's name, or "user" for the user's own module
    options: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # lr, weight decay, schedule, ...
    seconds: float | None = None
    processes: int = 1  # data-parallel processes (torchrun)
    compile_seconds: float | None = None


class EvaluateResult(_Typed):
    """Every split's metrics on the best checkpoint (test once, counted)."""

    scores: dict[str, Metrics] = Field(default_factory=dict)
    test_evaluations: int | None = None
    below_baseline: list[str] = Field(default_factory=list)


class PlotsResult(_Typed):
    files: list[str] = Field(default_factory=list)


class TuneResult(_Typed):
    folder: str = "tune"
    storage: str | None = None
    study: str | None = None
    best_params: dict[str, Any] = Field(default_factory=dict)
    best_value: float | None = None
    best_trial: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    importance: dict[str, float] | None = None
    seconds: float | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    trials: int = 0


class EnsembleStageResult(_Typed):
    members: list[int] = Field(default_factory=list)
    scores: dict[str, dict[str, Metrics]] = Field(default_factory=dict)
    gain: dict[str, float] = Field(default_factory=dict)
    missing: list[int] = Field(default_factory=list)
    single_valid_error: float | None = None
    final: str = "single"
    test: Metrics | None = None
    test_best_trial: Metrics | None = None
    test_evaluations: int | None = None


class ReportResult(_Typed):
    file: str = "report.html"
    bytes: int = 0


class Diagnosis(_Typed):
    errors: dict[str, float] = Field(default_factory=dict)
    human_known: bool = False
    table: list[dict[str, Any]] = Field(default_factory=list)
    verdict: str | None = None
    next_step: str | None = None


RESULT_TYPES: dict[str, type[BaseModel]] = {
    "audit": FindingsResult,
    "baselines": BaselinesResult,
    "checks": FindingsResult,
    "tune": TuneResult,
    "train": TrainResult,
    "evaluate": EvaluateResult,
    "ensemble": EnsembleStageResult,
    "plots": PlotsResult,
    "diagnose": FindingsResult,
    "report": ReportResult,
}


class Summary(_Typed):
    """``summary.json``: the run's scores and findings, written once, from the stage results."""

    schema_version: int = SCHEMA_VERSION
    train: Metrics | None = None
    train_dev: Metrics | None = None
    valid: Metrics | None = None
    test: Metrics | None = None
    best_epoch: int | None = None
    test_evaluations: int | None = None
    baselines: BaselinesResult | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
    ensemble: EnsembleStageResult | None = None
    final_model: str | None = None  # "single" or "ensemble"
    final_test: Metrics | None = None  # the test score of the model the run delivers

    def split(self, name: str) -> Metrics | None:
        return (
            getattr(self, name, None) if name in ("train", "train_dev", "valid", "test") else None
        )


class StageEntry(_Typed):
    name: str
    status: str  # "done", "resumed" (saved result reused), "skipped" (did not apply)
    seconds: float = 0.0


class Manifest(_Typed):
    """``manifest.json``: what the run folder holds and which schema its files follow."""

    schema_version: int = SCHEMA_VERSION
    nnrecipe: str = ""
    created: str = ""
    finished: bool = False
    stages: list[StageEntry] = Field(default_factory=list)


def parse(kind: type[BaseModel], value: Any, *, where: str) -> Any:
    """`value` validated as `kind`; a mismatch raises `ConfigError` naming `where`."""
    try:
        return kind.model_validate(value)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "top level"
        raise ConfigError(
            f"The file {where!r} does not hold a valid {kind.__name__} ({loc}: "
            f"{first.get('msg')}): it is damaged or from another nnrecipe version; rebuild it."
        ) from None


def read_typed(path: Path, kind: type[BaseModel]) -> Any:
    """Read and validate a typed JSON file of a run folder."""
    return parse(kind, read_json(path, what=f"{kind.__name__} file"), where=str(path))
