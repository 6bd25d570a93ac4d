"""Imports flow one way: a module never imports from a layer above its own (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nnrecipe"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "findings", "config", "io", "html", "notebook", "plotting", "schema", "progress"),
    ("versions", "_lazy"),
    ("threads",),
    ("data", "tasks", "datasets"),
    ("models", "watch"),
    ("train",),
    ("audit", "checks"),
    ("tune", "diagnose"),
    ("stages", "tracking", "pipeline"),
    ("report", "runs"),
    ("integrations", "recipe", "predictor", "cli", "__init__", "__main__"),
]
# Imports inside functions that go up on purpose, each with its reason.
ALLOWED_UP = {
    # The config validates task and model names against their registries, which import torch;
    # importing them only when a name is given keeps `nnrecipe --help` fast.
    ("config", "tasks"),
    ("config", "models"),
    # `explain` reads every stage's codes catalog (CATALOG_MODULES) by name.
    ("findings", "audit"),
    ("findings", "checks"),
    # Learner(lr="auto") takes its rate from the checks' learning-rate range test (one rule, kept
    # next to the range test in checks/transfer.py), run only when "auto" is asked for.
    ("train", "checks"),
}


def _layer(module: str) -> int:
    head = module.split(".")[1] if module.startswith("nnrecipe.") else module
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"module nnrecipe.{head} is in no layer: add it to LAYERS")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported nnrecipe module, at module level?) for every import in `path`."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "nnrecipe":
                out += [(f"nnrecipe.{a.name}", id(node) in top) for a in node.names]
            elif node.module.startswith("nnrecipe."):
                out.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names if a.name.startswith("nnrecipe.")]
    return out


def test_no_module_imports_from_a_layer_above_it() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        own = rel.parts[0]
        mine = _layer(own)
        for module, _ in _imports(path):
            theirs = _layer(module)
            key = (own, module.split(".")[1])
            if theirs > mine and key not in ALLOWED_UP:
                bad.append(f"{'/'.join(rel.parts)} imports {module} (layer {theirs} > {mine})")
    assert not bad, "\n".join(bad)


def test_stages_never_branch_on_the_kind_of_task() -> None:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "tasks":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if "is_classification" in line or "kind ==" in line or "kind==" in line:
                hits.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
