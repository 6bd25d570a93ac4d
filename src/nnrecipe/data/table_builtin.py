"""Built-in real tables read from files that Python packages ship (never downloaded)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from nnrecipe.data.core import Data
from nnrecipe.errors import DataError


def packaged_file(package: str, *parts: str, install: str) -> Any:
    """The path of a data file inside an installed package, or a `DataError` naming the
    install command."""
    try:
        path = resources.files(package).joinpath(*parts)
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise DataError(
            f"The data file {'/'.join(parts)} of the {package!r} package is not installed: "
            f"run `{install}`."
        )
    return path


def penguins(**kw: Any) -> Data:
    """Palmer Penguins (Horst et al. 2020): 344 penguins, species from bill, flipper, body
    mass, island, sex and year; missing values kept as they are (11 missing `sex`)."""
    from nnrecipe.data.table import from_csv

    path = packaged_file(
        "palmerpenguins", "data", "penguins.csv", install="pip install palmerpenguins"
    )
    return from_csv(path, target="species", name="penguins", **kw)
