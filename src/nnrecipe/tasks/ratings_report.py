"""The ratings task's report parts: ranking metrics, RMSE by user activity, and (from the
model, `inspect`) item biases, nearest items and the item-embedding map."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

TOP_K = 10
ACTIVITY_BINS = (1, 20, 50, 100, 200, 10**9)  # training ratings per user
POPULAR = 5  # popular items whose nearest neighbours are listed
NEIGHBOURS = 5
EXTREMES = 10
MAP_ITEMS = 300  # items drawn on the embedding map (the most rated)
LABELLED = 40  # of which labelled with their names


def ranking(
    users: np.ndarray, pred: np.ndarray, y: np.ndarray, k: int = TOP_K, min_rated: int = 2 * TOP_K
) -> dict:
    """Hit rate and NDCG at `k` over each user's held-out ratings, for users with at least
    `min_rated` of them (so that the top `k` is a real choice): a user's held-out items ranked
    by predicted rating; hit rate@k is the fraction of the top k the user rated highly (in the
    top quarter of the scale: 4 and 5 stars), NDCG@k uses the ratings as gains."""
    lo, hi = float(y.min()), float(y.max())
    relevant_from = lo + 0.75 * (hi - lo)
    hits, ndcgs = [], []
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    for rows in np.split(order, bounds):
        if len(rows) < min_rated:
            continue
        ranked = rows[np.argsort(-pred[rows], kind="stable")][:k]
        hits.append(float((y[ranked] >= relevant_from).mean()))
        ideal = np.sort(y[rows])[::-1][:k]
        gains = y[ranked] - lo
        ndcgs.append(float((gains * disc).sum() / max(((ideal - lo) * disc).sum(), 1e-12)))
    return {
        f"hit_rate@{k}": float(np.mean(hits)) if hits else None,
        f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else None,
        "users_ranked": len(hits),
    }


def collect(task: Any, out: Tensor, y: Tensor, data: Any) -> dict[str, Any]:
    pred = out.reshape(-1).float().numpy()
    yv = y.reshape(-1).float().numpy()
    users = data.valid.x["user"].numpy()
    train_users = data.train.x["user"].numpy()
    activity = np.bincount(train_users, minlength=int(users.max()) + 1)[users]
    by_activity = []
    for lo, hi in zip(ACTIVITY_BINS[:-1], ACTIVITY_BINS[1:], strict=True):
        sel = (activity >= lo) & (activity < hi)
        if sel.any():
            err = pred[sel] - yv[sel]
            label = f"{lo}+" if hi > 10**8 else f"{lo}-{hi - 1}"
            by_activity.append(
                {"ratings": label, "n": int(sel.sum()), "rmse": float(np.sqrt((err**2).mean()))}
            )
    cold = activity == 0
    if cold.any():
        err = pred[cold] - yv[cold]
        by_activity.insert(
            0,
            {"ratings": "0 (cold)", "n": int(cold.sum()), "rmse": float(np.sqrt((err**2).mean()))},
        )
    return {"ranking": ranking(users, pred, yv), "rmse_by_activity": by_activity}


def inspect(model: Any, data: Any) -> dict[str, Any]:
    """Item biases, nearest items and a 2-D PCA map of the item embeddings, when the model
    has `item_bias` / `item_factors` embeddings (the built-in collab models)."""
    meta = data.meta.get("ratings") or {}
    bias = getattr(model, "item_bias", None)
    factors = getattr(model, "item_factors", None)
    if bias is None or factors is None or not meta:
        return {}
    names = meta.get("item_names") or meta.get("item_ids") or []

    def name(i: int) -> str:
        return str(names[i - 1]) if 0 < i <= len(names) else f"item {i}"

    counts = np.bincount(data.train.x["item"].numpy(), minlength=int(meta["n_items"]))
    counts[0] = 0
    b = bias.weight.detach().cpu().reshape(-1).numpy()
    rated = np.flatnonzero(counts >= 20)  # biases of rarely rated items are mostly shrinkage
    order = rated[np.argsort(-b[rated])]
    row = lambda i: {"item": name(int(i)), "bias": round(float(b[i]), 3), "ratings": int(counts[i])}  # noqa: E731
    w = factors.weight.detach().cpu().float()
    popular = np.argsort(-counts)[:POPULAR]
    unit = torch.nn.functional.normalize(w, dim=1)
    nearest = []
    for i in popular:
        sims = unit[rated] @ unit[int(i)]
        best = [
            int(rated[j]) for j in torch.argsort(sims, descending=True).tolist() if rated[j] != i
        ]
        nearest.append({"item": name(int(i)), "nearest": [name(j) for j in best[:NEIGHBOURS]]})
    top = np.argsort(-counts)[:MAP_ITEMS]
    pts = w[top] - w[top].mean(0)
    _, _, v = torch.linalg.svd(pts, full_matrices=False)
    xy = (pts @ v[:2].T).numpy()
    return {
        "highest_bias": [row(i) for i in order[:EXTREMES]],
        "lowest_bias": [row(i) for i in order[::-1][:EXTREMES]],
        "nearest_items": nearest,
        "item_map": {
            "x": xy[:, 0].round(4).tolist(),
            "y": xy[:, 1].round(4).tolist(),
            "labels": [name(int(i)) if k < LABELLED else "" for k, i in enumerate(top)],
        },
    }


def html(run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
    from nnrecipe.html import absent, esc, fmt, table

    parts = []
    rank = results.get("ranking") or {}
    if rank:
        parts.append(
            "<h3>Ranking (valid)</h3><p>"
            + esc(
                f"Each user's held-out items ranked by predicted rating, over the "
                f"{rank.get('users_ranked', 0)} users with at least {2 * TOP_K} of them: "
                f"hit rate@{TOP_K} (share of the top {TOP_K} rated in the top quarter of the "
                f"scale) "
                f"{fmt(rank.get(f'hit_rate@{TOP_K}'))}, NDCG@{TOP_K} {fmt(rank.get(f'ndcg@{TOP_K}'))}."
            )
            + "</p>"
        )
    rows = results.get("rmse_by_activity") or []
    parts.append(
        "<h3>RMSE by user activity (valid)</h3>"
        + (
            table(
                ["training ratings of the user", "valid ratings", "RMSE"],
                [[r["ratings"], r["n"], r["rmse"]] for r in rows],
            )  # fmt: skip
            if rows
            else absent("Not recorded.")
        )
    )
    for key, title in (("highest_bias", "Highest item bias"), ("lowest_bias", "Lowest item bias")):
        if results.get(key):
            parts.append(
                f"<h3>{esc(title)} (items with at least 20 ratings)</h3>"
                + table(
                    ["item", "bias", "ratings"],
                    [[r["item"], r["bias"], r["ratings"]] for r in results[key]],
                )  # fmt: skip
            )
    if results.get("nearest_items"):
        parts.append(
            "<h3>Nearest items (cosine of the item embeddings)</h3>"
            + table(
                ["popular item", "nearest"],
                [[r["item"], "; ".join(r["nearest"])] for r in results["nearest_items"]],
            )  # fmt: skip
        )
    item_map = results.get("item_map")
    if item_map:
        from nnrecipe.tasks.table_report import scatter_svg

        parts.append(
            f"<h3>Item embeddings (PCA, the {len(item_map['x'])} most rated items; the "
            f"{LABELLED} most rated labelled)</h3>"
            + scatter_svg(item_map["x"], item_map["y"], item_map["labels"], size=520)
        )
    pics = [f for f in plot_files if "predicted_vs_true" in f]
    if pics:
        from nnrecipe.html import figure, png_img

        parts.append("".join(figure(png_img(b, alt=f), f) for f in pics if (b := run.file(f))))
    return "".join(parts)
