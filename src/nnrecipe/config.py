"""The run configuration: typed defaults, one comment per field, validated as a whole.

Unknown keys are errors; every invalid value is reported at once, in one message.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nnrecipe.errors import ConfigError


class RunConfig(BaseModel):
    """Everything `nnrecipe run` needs; the CLI flags and a TOML/JSON file fill the same fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # -- data --
    data: str = Field(
        ..., description="built-in name (digits, mnist1d, ...), image folder or CSV file"
    )
    target: str | None = Field(None, description="target column of a CSV file")
    task: Literal["classification", "regression"] | None = Field(
        None, description="default: inferred"
    )
    valid: float = Field(0.2, gt=0, lt=0.9, description="fraction of the data for validation")
    test: float = Field(0.1, ge=0, lt=0.9, description="fraction for the test set (evaluated once)")
    train_dev: float = Field(0.0, ge=0, lt=0.5, description="slice of train held out as train-dev")
    image_size: int | None = Field(None, ge=4, le=1024, description="resize folder images to this")
    # -- model --
    model: Literal["linear", "mlp", "cnn1d", "cnn2d"] | None = Field(
        None, description="default by modality"
    )
    width: int | None = Field(None, ge=1, le=8192, description="hidden units / base channels")
    depth: int | None = Field(None, ge=1, le=64, description="hidden layers / residual blocks")
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout probability")
    # -- training --
    epochs: int = Field(20, ge=1, le=100000, description="maximum number of epochs")
    lr: float = Field(3e-3, gt=0, le=10, description="peak learning rate")
    weight_decay: float = Field(1e-2, ge=0, le=10, description="AdamW decoupled weight decay")
    batch_size: int | None = Field(None, ge=1, description="default from the training-set size")
    schedule: Literal["one-cycle", "warmup-cosine", "constant"] = Field(
        "one-cycle", description="lr schedule"
    )
    clip: float | None = Field(1.0, gt=0, description="gradient-norm clipping (null: off)")
    patience: int | None = Field(
        10, ge=0, description="early-stopping patience in epochs (null: off)"
    )
    seed: int = Field(0, ge=0, description="seed for splits, init, shuffling and dropout")
    # -- machine --
    device: str | None = Field(None, description="cpu, cuda, mps; default: the best available")
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads; default: measured")
    nproc: int = Field(
        1, ge=1, le=1024, description="data-parallel processes on this machine (torchrun)"
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32, or bf16 / fp16 autocast (fp16 with a GradScaler)"
    )
    compile: bool = Field(False, description="train through torch.compile (compile time apart)")
    # -- run --
    out: str | None = Field(None, description="run folder; default runs/<data>-<time>")
    force: bool = Field(False, description="continue past errors found by the audit and checks")
    human_error: float | None = Field(None, ge=0, le=1, description="human-level error, if known")
    # -- regularize, tune, squeeze (nnrecipe.tune) --
    augment: float | None = Field(
        None, ge=0, le=1, description="augmentation strength 0..1 (0/null: off)"
    )
    tune_trials: int | None = Field(
        None, ge=1, description="Optuna trials before training (null: no search)"
    )
    tune_sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="search sampler")
    tune_pruner: Literal["median", "hyperband", "none"] = Field(
        "median", description="trial pruner"
    )
    tune_workers: int = Field(1, ge=1, le=64, description="worker processes sharing the study")
    tune_storage: str | None = Field(
        None, description="Optuna storage URL; default SQLite in the run folder"
    )
    tune_study: str | None = Field(None, description="study name in the storage (default nnrecipe)")
    tune_epochs: int | None = Field(
        None, ge=1, description="max epochs per trial (default: epochs)"
    )
    tune_space: dict[str, Any] | None = Field(
        None, description="search space, see nnrecipe.tune.space"
    )
    max_params: int | None = Field(
        None, ge=1, description="satisficing: at most this many parameters"
    )
    max_latency_ms: float | None = Field(
        None, gt=0, description="satisficing: ms per sample at inference"
    )
    ensemble: int | None = Field(
        None, ge=1, description="average the top-K tuned models (needs tune)"
    )

    @model_validator(mode="after")
    def _ensemble_needs_tune(self) -> RunConfig:
        if self.ensemble and not self.tune_trials:
            raise ValueError(
                f"ensemble={self.ensemble} averages the top tuned models: set tune_trials "
                f"(--tune N, N >= {self.ensemble})"
            )
        return self

    def model_options(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("width", "depth", "dropout")
            if getattr(self, k) is not None
        }

    def training_settings(self) -> dict[str, Any]:
        """The Learner settings a run trains with (tuning may override lr, weight decay, batch
        size and augmentation)."""
        keys = ("schedule", "clip", "patience", "lr", "weight_decay", "batch_size", "augment")
        return {k: getattr(self, k) for k in keys}


def _format_errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"]) or "config"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            known = ", ".join(RunConfig.model_fields)
            msg = f"unknown key (known keys: {known})"
        parts.append(f"{where}: {msg} (got {err.get('input')!r})")
    return "; ".join(parts)


def make_config(values: dict[str, Any]) -> RunConfig:
    """Validate `values` into a RunConfig, reporting every problem at once."""
    try:
        return RunConfig(**values)
    except ValidationError as e:
        raise ConfigError(f"Invalid configuration: {_format_errors(e)}.") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a dict (validated later, with the CLI's overrides)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {str(p)!r} does not exist: check the path.")
    try:
        if p.suffix == ".json":
            values = json.loads(p.read_text())
        else:
            values = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(
            f"Config file {str(p)!r} is not valid {p.suffix[1:].upper() or 'TOML'}: {e}."
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {str(p)!r} must hold a table of settings.")
    return values
