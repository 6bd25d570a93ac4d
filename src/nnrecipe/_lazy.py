"""Lazy exports: a package's public names are imported on first use (PEP 562).

So ``nnrecipe --help``, ``nnrecipe explain CODE`` and ``nnrecipe env`` start without importing
torch (1.5 s on this machine): the CLI and the finding codes import nothing heavy, and
``import nnrecipe`` loads torch only when a verb or a noun that needs it is first touched.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for `package`, where `names` maps each public name to the
    module defining it. A name is imported once, then cached in the package."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value  # not through setattr: see nnrecipe.__init__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
