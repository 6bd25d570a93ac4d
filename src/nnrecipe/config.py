"""The run configuration: typed defaults, one comment per field, validated as a whole.

Unknown keys are errors; every invalid value is reported at once, in one message.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nnrecipe.errors import ConfigError

# Built-in data sets whose reference figures use another split than the default 0.2 / 0.1:
# MovieLens-100k trains on 80% like fastai's book and Surprise (random 20% held out). Measured
# with the defaults (collab-blend, seed 0): 70/20/10 valid rmse 0.8986, test 0.9056; 80/10/10
# valid 0.8831, test 0.8931 (bench/collab.py, 80/20, 3 seeds: 0.8879 +- 0.0066).
BUILTIN_SPLITS: dict[str, dict[str, float]] = {"movielens-100k": {"valid": 0.1, "test": 0.1}}


class RunConfig(BaseModel):
    """Everything `nnrecipe run` needs; the CLI flags and a TOML/JSON file fill the same fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # -- data --
    data: str = Field(
        ..., description="built-in name (digits, mnist1d, ...), image folder or CSV file"
    )
    target: str | None = Field(None, description="target column of a CSV file")
    masks: str | None = Field(
        None, description="segmentation: folder of masks paired with the images by file stem"
    )
    task: str | None = Field(None, description="a name in nnrecipe.tasks.TASKS; default: inferred")
    task_options: dict[str, Any] | None = Field(
        None, description="the task's own options (e.g. head, bins, fewshot_classes, window)"
    )
    valid: float = Field(0.2, gt=0, lt=0.9, description="fraction of the data for validation")
    test: float = Field(0.1, ge=0, lt=0.9, description="fraction for the test set (evaluated once)")
    train_dev: float = Field(0.0, ge=0, lt=0.5, description="slice of train held out as train-dev")
    image_size: int | None = Field(None, ge=4, le=1024, description="resize folder images to this")
    categorical: list[str] | None = Field(None, description="CSV columns to treat as categorical")
    continuous: list[str] | None = Field(None, description="CSV columns to treat as continuous")
    group: str | None = Field(None, description="CSV column whose rows stay in one split")
    users: str | None = Field(None, description="user column of a ratings CSV (collab filtering)")
    items: str | None = Field(None, description="item column of a ratings CSV (with users)")
    ratings_split: Literal["random", "user", "time"] = Field(
        "random", description="how a ratings table is split (time: needs a timestamp column)"
    )
    y_range: tuple[float, float] | None = Field(
        None, description="output range of a ratings model; default: inferred from the ratings"
    )
    # -- model --
    model: str | None = Field(
        None, description="a name in nnrecipe.models.MODELS; default: the task's / modality's"
    )
    width: int | None = Field(None, ge=1, le=8192, description="hidden units / base channels")
    depth: int | None = Field(None, ge=1, le=64, description="hidden layers / residual blocks")
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout probability")
    weights: str | None = Field(
        None, description="torchvision model's weights: a .safetensors/.pth file or 'default'"
    )
    pretrained: str | None = Field(
        None, description="a finished run folder whose model (all but the head) is the body"
    )
    # -- training --
    epochs: int = Field(
        100, ge=1, le=100000, description="budget: at most this many epochs (auto stops sooner)"
    )
    lr: float | Literal["auto"] = Field(
        3e-3, description="peak learning rate, or 'auto': from the checks' range test"
    )
    weight_decay: float = Field(1e-2, ge=0, le=10, description="AdamW decoupled weight decay")
    batch_size: int | None = Field(None, ge=1, description="default from the training-set size")
    schedule: Literal["auto", "one-cycle", "warmup-cosine", "constant"] = Field(
        "auto", description="lr schedule; auto: warm up, hold the peak, cool down when it stalls"
    )
    clip: float | None = Field(1.0, gt=0, description="gradient-norm clipping (null: off)")
    patience: int | None = Field(
        5,
        ge=0,
        description="epochs the valid metric may stall before cooldown and stop (null: off)",
    )
    class_weights: Literal["balanced"] | None = Field(
        None, description="'balanced': weight the loss by inverse class frequency"
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
    log: list[Literal["tensorboard", "mlflow"]] | None = Field(
        None, description="experiment trackers fed during the run (nnrecipe.tracking)"
    )
    log_uri: str | None = Field(
        None,
        description="MLflow store: sqlite:///FILE.db, a .db file or a folder; default runs/mlflow",
    )
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
    tune_study_path: str | None = Field(
        None, description="reuse the finished search of this tune folder (or study.db)"
    )
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

    @field_validator("out")
    @classmethod
    def _folder_named(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or "\x00" in v):
            raise ValueError(
                "the run folder must be a path (omit it for the default runs/<data>-<time>)"
            )
        return v

    @field_validator("log", mode="before")
    @classmethod
    def _log_list(cls, v: Any) -> Any:
        # "tensorboard,mlflow" and ["tensorboard", "mlflow"] (the repeated --log) alike
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple):
            v = [p.strip().lower() for x in v for p in str(x).split(",") if p.strip()]
            return list(dict.fromkeys(v)) or None
        return v

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        # The registry lives in nnrecipe.tasks (it imports torch, so only when a task is named).
        from nnrecipe.tasks import ALIASES, TASKS

        if v is not None and ALIASES.get(v, v) not in TASKS:
            raise ValueError(f"unknown task {v!r}: use one of {', '.join(TASKS)}")
        return v

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str | None) -> str | None:
        from nnrecipe.models import MODELS

        if v is not None and v not in MODELS:
            raise ValueError(f"unknown model {v!r}: built-in models are {', '.join(MODELS)}")
        return v

    @field_validator("lr")
    @classmethod
    def _lr_range(cls, v: float | str) -> float | str:
        if v != "auto" and not 0 < v <= 10:
            raise ValueError(f"lr must be in (0, 10] or 'auto', got {v!r}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _builtin_split(cls, values: Any) -> Any:
        """A built-in data set's own split when none is given (BUILTIN_SPLITS)."""
        if not isinstance(values, dict) or not isinstance(values.get("data"), str):
            return values
        own = BUILTIN_SPLITS.get(values["data"].lower().replace("_", "-"))
        if own is None or Path(values["data"]).exists():
            return values
        given = {k: v for k, v in values.items() if not (k in own and v is None)}
        return {**own, **given}

    @model_validator(mode="after")
    def _transfer_options(self) -> RunConfig:
        from nnrecipe.models.pretrained import ARCHITECTURES

        if self.weights is not None and self.model not in ARCHITECTURES:
            raise ValueError(
                f"--weights needs a torchvision model (--model resnet18, ...), got model {self.model!r}"
            )
        if self.pretrained is not None and not Path(self.pretrained).is_dir():
            raise ValueError(f"--pretrained {self.pretrained!r} is not a run folder")
        return self

    @model_validator(mode="after")
    def _one_search(self) -> RunConfig:
        if self.tune_study_path is not None and self.tune_trials:
            raise ValueError(
                "tune_study_path reuses a finished search and tune_trials starts one: give one "
                "(--tune-study PATH or --tune N)"
            )
        return self

    @model_validator(mode="after")
    def _ensemble_needs_tune(self) -> RunConfig:
        if self.ensemble and not (self.tune_trials or self.tune_study_path):
            raise ValueError(
                f"ensemble={self.ensemble} averages the top tuned models: set tune_trials "
                f"(--tune N, N >= {self.ensemble}) or tune_study_path"
            )
        return self

    def table_options(self) -> dict[str, Any]:
        """The CSV reader's options (column types, groups, ratings columns) that are set."""
        keys = ("categorical", "continuous", "group", "users", "items", "y_range")
        out = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.users is not None:
            out["split"] = self.ratings_split
        return out

    def model_options(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("width", "depth", "dropout", "weights", "pretrained")
            if getattr(self, k) is not None
        }

    def training_settings(self) -> dict[str, Any]:
        """The Learner settings a run trains with (tuning may override lr, weight decay, batch
        size and augmentation)."""
        keys = (
            "schedule",
            "clip",
            "patience",
            "lr",
            "weight_decay",
            "batch_size",
            "augment",
            "class_weights",
        )
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


# Settings nest a few levels at most (tune_space); deeper is a damaged or hostile file.
MAX_DEPTH = 32


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep dicts and lists nest in `value` (stops counting past `limit`), iteratively."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list | tuple):
            deepest = max(deepest, d)
            if d > limit:
                return d
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def make_config(values: dict[str, Any]) -> RunConfig:
    """Validate `values` into a RunConfig, reporting every problem at once."""
    if not isinstance(values, dict):
        raise ConfigError(
            f"The settings must be a dict of names to values, got {type(values).__name__}."
        )
    if nesting_depth(values) > MAX_DEPTH:
        raise ConfigError(
            f"The settings nest more than {MAX_DEPTH} levels deep: flatten them (only "
            "tune_space holds tables, a few levels deep)."
        )
    try:
        return RunConfig(**values)
    except ValidationError as e:
        raise ConfigError(f"Invalid configuration: {_format_errors(e)}.") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a dict (validated later, with the CLI's overrides)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {str(p)!r} does not exist: check the path.")
    fmt = "JSON" if p.suffix == ".json" else "TOML"
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"Config file {str(p)!r} is not UTF-8 text (byte {e.start}): save it as UTF-8."
        ) from None
    except OSError as e:
        raise ConfigError(f"Config file {str(p)!r} cannot be read ({e.strerror}).") from None
    try:
        values = json.loads(text) if fmt == "JSON" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"Config file {str(p)!r} is not valid {fmt}: {e}.") from None
    except RecursionError:
        raise ConfigError(
            f"Config file {str(p)!r} nests too deeply to read: settings nest a few levels at most."
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(
            f"Config file {str(p)!r} must hold a table of settings, not a {type(values).__name__}."
        )
    if nesting_depth(values) > MAX_DEPTH:
        raise ConfigError(
            f"Config file {str(p)!r} nests more than {MAX_DEPTH} levels deep: settings nest a "
            "few levels at most."
        )
    if isinstance(values.get("rerun"), dict):  # a run folder's config.json: rerun that run
        return {k: v for k, v in values["rerun"].items() if k != "out"}
    if isinstance(values.get("config"), dict) and "schema_version" in values:
        return {k: v for k, v in values["config"].items() if k != "out"}
    return values
