"""Planted bugs for tables and ratings, each with the code that names its root cause, and the
healthy setups that must stay quiet. A case builds ``dict(stage=, data=, model=?,
optimizer=?)``: ``stage`` "audit" runs ``nr.audit(data)``, "check" runs ``nr.check``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.tasks.ratings import Ratings


@dataclass(frozen=True)
class TableCase:
    name: str
    expect: str | None  # root-cause code; None for a healthy setup
    build: Callable[[], dict[str, Any]]
    what: str = ""


def _movielens(n: int = 20_000, **kw: Any) -> nr.Data:
    """The first `n` MovieLens ratings (keeps the checks fast)."""
    data = nr.datasets.load("movielens-100k", **kw)
    meta = data.meta["ratings"]
    import pandas as pd

    rows = []
    for s in data.splits.values():
        u = [meta["user_ids"][i - 1] if i else "cold" for i in s.x["user"].tolist()]
        it = [meta["item_ids"][i - 1] if i else "cold" for i in s.x["item"].tolist()]
        rows.append(pd.DataFrame({"u": u, "i": it, "r": s.y.numpy(), "pos": s.index.numpy()}))
    df = pd.concat(rows).sort_values("pos").head(n)
    df = df[(df["u"] != "cold") & (df["i"] != "cold")]
    return nr.Data.from_ratings(df, users="u", items="i", ratings="r", seed=0)


def _ids_swapped() -> dict[str, Any]:
    data = _movielens()
    v = data.valid.x
    n_users = data.meta["ratings"]["n_users"]
    # The valid split's columns were fed in the wrong order (items as users, users as items).
    data.valid.x = {"user": v["item"] % n_users, "item": v["user"]}
    return {"stage": "audit", "data": data}


def _ratings_0_100() -> dict[str, Any]:
    data = _movielens()
    for s in data.splits.values():
        s.y = s.y * 20  # ratings on 0..100 ...
    data.task = Ratings((0.0, 5.5))  # ... with the y_range of 1..5 stars
    return {"stage": "audit", "data": data}


def _embeddings_not_optimized() -> dict[str, Any]:
    data = _movielens()
    torch.manual_seed(0)
    model = build_model("collab", data)
    biases = [model.bias, model.user_bias.weight, model.item_bias.weight]
    # The optimizer was built over the biases only: the factor embeddings never move.
    return {
        "stage": "check",
        "data": data,
        "model": model,
        "optimizer": lambda params: torch.optim.Adam(biases, lr=3e-3),
    }


def _ratings_shuffled() -> dict[str, Any]:
    data = _movielens()
    gen = torch.Generator().manual_seed(0)
    for s in data.splits.values():
        s.y = s.y[torch.randperm(len(s.y), generator=gen)]  # ratings no longer match the pairs
    torch.manual_seed(0)
    return {"stage": "check", "data": data, "model": build_model(None, data)}


def _codes_reassigned() -> dict[str, Any]:
    data = nr.datasets.load("penguins")
    c = data.valid.x["cat"]
    # valid was encoded by its own encoder: island's levels got other codes (0, 1 reserved).
    c[:, 0] = torch.tensor([0, 1, 4, 2, 3])[c[:, 0]]
    return {"stage": "audit", "data": data}


def _healthy_penguins_audit() -> dict[str, Any]:
    return {"stage": "audit", "data": nr.datasets.load("penguins")}


def _healthy_penguins_check() -> dict[str, Any]:
    data = nr.datasets.load("penguins")
    torch.manual_seed(0)
    return {"stage": "check", "data": data, "model": build_model(None, data)}


def _healthy_ratings_audit() -> dict[str, Any]:
    return {"stage": "audit", "data": nr.datasets.load("movielens-100k")}


def _healthy_ratings_check() -> dict[str, Any]:
    data = _movielens()
    torch.manual_seed(0)
    return {"stage": "check", "data": data, "model": build_model(None, data)}


CASES = [
    TableCase("ids-swapped", "code-shift", _ids_swapped, "user and item ids swapped in valid"),
    TableCase("ratings-0-100", "rating-range", _ratings_0_100, "ratings 0-100, y_range 0-5.5"),
    TableCase(
        "embeddings-not-optimized",
        "params-not-updated",
        _embeddings_not_optimized,
        "the optimizer holds the biases only",
    ),
    TableCase("ratings-shuffled", "input-ignored", _ratings_shuffled, "ratings shuffled"),
    TableCase("codes-reassigned", "code-shift", _codes_reassigned, "island re-encoded in valid"),
]
HEALTHY = [
    TableCase("penguins-audit", None, _healthy_penguins_audit),
    TableCase("penguins-check", None, _healthy_penguins_check),
    TableCase("movielens-audit", None, _healthy_ratings_audit),
    TableCase("movielens-check", None, _healthy_ratings_check),
]


def run(case: TableCase) -> nr.Result:
    spec = case.build()
    if spec["stage"] == "audit":
        return nr.audit(spec["data"])
    return nr.check(spec["model"], spec["data"], optimizer=spec.get("optimizer"))
