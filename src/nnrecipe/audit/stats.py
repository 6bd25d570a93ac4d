"""Input statistics the person should look at before training (JSON-able)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrecipe.audit.context import AuditContext
from nnrecipe.audit.inputs import file_headers
from nnrecipe.audit.masks import pixel_counts

# Per-feature summaries are listed for at most this many table columns.
MAX_FEATURES = 100


def _r(v: float) -> float:
    return round(float(v), 5)


def input_stats(ctx: AuditContext) -> dict[str, Any]:
    """Sizes, per-channel statistics, image size / length, class histogram or target summary,
    per-feature summary for tables."""
    data = ctx.data
    shape = data.input_shape
    stats: dict[str, Any] = {
        "name": data.name,
        "modality": data.modality,
        "task": data.task.name,
        "input_shape": list(shape),
        "sizes": {k: len(s.x) for k, s in ctx.splits.items()},
    }
    truncated = [k for k, s in ctx.splits.items() if s.truncated]
    if truncated:
        stats["truncated_splits"] = truncated
    if data.modality in ("image", "sequence"):
        x = ctx.splits["train"].x.reshape(len(ctx.splits["train"].x), shape[0], -1)
        stats["channels"] = [
            {
                "channel": c,
                "mean": _r(x[:, c].mean()),
                "std": _r(x[:, c].std()),
                "min": _r(x[:, c].min()),
                "max": _r(x[:, c].max()),
            }
            for c in range(shape[0])
        ]
        if data.modality == "image":
            stats["image_size"] = list(shape[1:])
        else:
            stats["length"] = int(shape[1])
        if "normalize" in data.meta:
            stats["normalize"] = data.meta["normalize"]
    else:
        x = ctx.splits["train"].x
        names = data.feature_names or [f"feature {i}" for i in range(x.shape[1])]
        stats["features"] = [
            {
                "name": names[i],
                "mean": _r(x[:, i].mean()),
                "std": _r(x[:, i].std()),
                "min": _r(x[:, i].min()),
                "max": _r(x[:, i].max()),
                "distinct": int(len(np.unique(x[:, i]))),
            }
            for i in range(min(x.shape[1], MAX_FEATURES))
        ]
    if ctx.has_labels:
        names = ctx.class_names
        stats["classes"] = {
            k: {
                names[i]: int(c)
                for i, c in enumerate(np.bincount(ctx.labels(k), minlength=ctx.num_classes))
            }
            for k in ctx.splits
        }
    elif (pixels := pixel_counts(ctx)) is not None:
        stats["pixel_classes"] = pixels  # masks: pixels per class and split
    else:
        stats["target"] = {}
        for k, s in ctx.splits.items():
            y = s.y.reshape(len(s.y), -1).astype(np.float64)
            y = y[np.isfinite(y).all(axis=1)]
            q = np.percentile(y, [0, 5, 25, 50, 75, 95, 100], axis=0).T
            stats["target"][k] = {
                "mean": [_r(v) for v in y.mean(axis=0)],
                "std": [_r(v) for v in y.std(axis=0)],
                "quantiles_0_5_25_50_75_95_100": [[_r(v) for v in row] for row in q],
            }
    if "corrupt_files" in data.meta:
        stats["corrupt_files"] = len(data.meta["corrupt_files"])
    if data.meta.get("files"):
        from collections import Counter

        headers = file_headers(ctx)
        sizes = Counter(f"{w}x{h}" for *_, (w, h), _ in headers)
        stats["source_images"] = {
            "headers_read": len(headers),
            "sizes": dict(sizes.most_common(10)),
            "distinct_sizes": len(sizes),
            "modes": dict(Counter(h[4] for h in headers)),
        }
    return stats


def stats_tables(stats: dict[str, Any]) -> list[Any]:
    """The input statistics as `rich` tables (for the CLI)."""
    from rich.table import Table

    tables = []
    head = Table(
        title=f"{stats['name']}: {stats['modality']}, {stats['task']}, input "
        f"{tuple(stats['input_shape'])}"
    )
    splits = list(stats["sizes"])
    head.add_column("")
    for k in splits:
        head.add_column(k, justify="right")
    head.add_row("samples", *(str(stats["sizes"][k]) for k in splits))
    for name, counts in _transpose(stats.get("classes", {}), splits)[:30]:
        head.add_row(f"class {name}", *counts)
    for name, counts in _transpose(stats.get("pixel_classes", {}), splits)[:30]:
        head.add_row(f"pixels of {name}", *counts)
    for k, v in stats.get("target", {}).items():
        head.add_row(
            f"target mean±std ({k})",
            *[""] * (len(splits) - 1),
            f"{v['mean'][0]:.4g} ± {v['std'][0]:.4g}",
        )
    tables.append(head)
    rows = stats.get("channels") or stats.get("features") or []
    if rows:
        key = "channel" if "channels" in stats else "name"
        t = Table(title="training inputs, per " + ("channel" if key == "channel" else "feature"))
        for col in (key, "mean", "std", "min", "max"):
            t.add_column(col, justify="right" if col != "name" else "left")
        for r in rows[:40]:
            t.add_row(str(r[key]), *(f"{r[c]:.4g}" for c in ("mean", "std", "min", "max")))
        tables.append(t)
    measured = Table(title="measured")
    measured.add_column("what")
    measured.add_column("value")
    for k in (
        "copy_groups",
        "label_noise_estimate",
        "cheap_model_accuracy",
        "shift_auc",
        "outlier_ratio_max",
    ):
        if k in stats:
            measured.add_row(k.replace("_", " "), str(stats[k]))
    measured.add_row("seconds", str(stats.get("seconds", {}).get("total", "")))
    tables.append(measured)
    return tables


def _transpose(
    per_split: dict[str, dict[str, int]], splits: list[str]
) -> list[tuple[str, list[str]]]:
    if not per_split:
        return []
    names = list(next(iter(per_split.values())))
    return [(n, [str(per_split.get(k, {}).get(n, "")) for k in splits]) for n in names]
