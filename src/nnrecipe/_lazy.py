"""Lazy exports: a package's public names are imported on first use (PEP 562).

So ``nnrecipe --help``, ``nnrecipe explain CODE`` and ``nnrecipe env`` start without importing
torch (1.5 s on this machine): the CLI and the finding codes import nothing heavy, and
``import nnrecipe`` loads torch only when a verb or a noun that needs it is first touched.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


class _Package(types.ModuleType):
    """A package whose exported names win over its submodules of the same name: importing the
    module ``nnrecipe.tune.ensemble`` would bind it over the verb ``ensemble`` (the import
    system sets it on the package); the verb keeps the name, the module stays importable."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in vars(self).get("_EXPORTED", ()):
            return
        super().__setattr__(name, value)


def exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for `package`, where `names` maps each public name to the
    module defining it. A name is imported once, then cached in the package."""
    module = sys.modules[package]
    vars(module)["_EXPORTED"] = frozenset(names)
    module.__class__ = _Package

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value  # past the guard of _Package
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
