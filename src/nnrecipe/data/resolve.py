"""The `Data` a run's config names: a built-in data set, an image folder, or a CSV file."""

from __future__ import annotations

from pathlib import Path

from nnrecipe.config import RunConfig
from nnrecipe.data import builtin
from nnrecipe.data.core import Data
from nnrecipe.errors import ConfigError, DataError


def resolve_data(config: RunConfig, *, skip_corrupt: bool = False) -> Data:
    """The `Data` a config names: a built-in data set, an image folder, or a CSV file.

    With `skip_corrupt`, unreadable images in a folder are skipped and listed in
    ``data.meta["corrupt_files"]`` (the audit reports them as ``corrupt-sample`` errors)."""
    spec = config.data
    split = {
        "valid": config.valid,
        "test": config.test,
        "train_dev": config.train_dev,
        "seed": config.seed,
    }
    path = Path(spec)
    if (
        spec.lower().replace("_", "-") in {k.replace("_", "-") for k in builtin.LOADERS}
        and not path.exists()
    ):
        return builtin.load(spec, task=config.task, task_options=config.task_options, **split)
    # The task named with --task (and its --task-option's) reads the samples (Data.with_task).
    options = config.task_options or {}
    if config.masks is not None:
        if not path.is_dir():
            raise ConfigError(
                f"--masks needs a folder of images as the data, got {spec!r}: pass the images "
                "folder and the masks folder (files paired by stem)."
            )
        return Data.from_folder(path, masks=config.masks, size=config.image_size, **split)
    if path.is_dir():
        data = Data.from_folder(path, size=config.image_size, skip_corrupt=skip_corrupt, **split)
        return data.with_task(config.task, **options)
    if path.suffix.lower() in (".csv", ".tsv", ".txt") or path.is_file():
        if config.target is None:
            raise ConfigError(f"{spec!r} is a table: name its target column with --target COLUMN.")
        data = Data.from_csv(
            path, target=config.target, task=config.task, **config.table_options(), **split
        )
        return data.with_task(None, **options)
    raise DataError(
        f"{spec!r} is neither a built-in data set ({', '.join(builtin.LOADERS)}) nor an existing folder "
        "or CSV file: check the name or path."
    )
