"""Report parts of a table read from a CSV (any task whose data has ``data.frame``): the
valid rows with the highest loss as a table (CSV line, values, given vs predicted), and for
the entity-embedding model a 2-D PCA map of each categorical column's embedding; for any
table (`nnrecipe.data.rows`), the audit's label-noise suspects as rows.

Chosen by the data (`Task.inspect`'s default), never by the kind of task: a task whose
data is not a CSV table gets nothing from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnrecipe.data import rows

WORST_ROWS = 15
MAP_LEVELS = 60  # levels drawn per embedding map


def _outputs(model: Any, split: Any) -> torch.Tensor:
    from nnrecipe.data.batch import batch_to, call_model

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for xb, _ in split.batches(1024):
            outs.append(call_model(model, batch_to(xb, device)).float().cpu())
    model.train(was)
    return torch.cat(outs)


def worst_rows(model: Any, data: Any) -> dict[str, Any]:
    if getattr(data, "frame", None) is None or data.valid.index is None:
        return {}
    columns = rows.columns(data)
    if not columns:
        return {}
    out = _outputs(model, data.valid)
    y = data.valid.targets()
    loss = data.task.per_sample_loss(out, y)
    pred = data.task.predict(out)
    classes = getattr(data.task, "classes", None)

    def names(v: Any) -> Any:
        return classes[int(v)] if classes and 0 <= int(v) < len(classes) else rows.cell(float(v))

    shown = []
    for p in torch.argsort(loss, descending=True)[:WORST_ROWS].tolist():
        r = rows.row(data, "valid", p)
        shown.append(
            {
                "line": r["line"],
                "given": names(y[p]),
                "predicted": names(pred[p]),
                "loss": round(float(loss[p]), 4),
                "values": r["values"],
            }
        )
    return {"worst_rows": {"columns": columns, "rows": shown}}


def embedding_maps(model: Any, data: Any) -> list[dict[str, Any]]:
    """Per categorical column with at least 3 levels: the PCA of its embedding rows."""
    embeds = getattr(model, "embeds", None)
    cats = (data.meta.get("table") or {}).get("categorical") or {}
    if embeds is None or len(embeds) != len(cats):
        return []
    x_cat = data.train.x["cat"]
    maps = []
    for j, (col, levels) in enumerate(cats.items()):
        if len(levels) < 3:
            continue
        w = embeds[j].weight.detach().cpu().float()[2:]  # the training levels (codes 2..)
        counts = torch.bincount(x_cat[:, j], minlength=len(levels) + 2)[2:]
        keep = torch.argsort(counts, descending=True)[:MAP_LEVELS]
        pts = w[keep] - w[keep].mean(0)
        _, _, v = torch.linalg.svd(pts, full_matrices=False)
        xy = (pts @ v[:2].T).numpy() if v.shape[0] >= 2 else np.c_[pts[:, 0], 0 * pts[:, 0]]
        maps.append(
            {
                "column": col,
                "x": xy[:, 0].round(4).tolist(),
                "y": xy[:, 1].round(4).tolist(),
                "labels": [levels[int(k)] for k in keep],
            }
        )
    return maps


def inspect(model: Any, data: Any) -> dict[str, Any]:
    if getattr(data, "frame", None) is None:
        return {}
    out = worst_rows(model, data)
    maps = embedding_maps(model, data)
    if maps:
        out["embedding_maps"] = maps
    return out


def html(results: dict[str, Any]) -> str:
    """The worst rows as a table (escaped) and the embedding maps as inline SVG scatter plots."""
    from nnrecipe.html import esc, table

    parts = []
    worst = results.get("worst_rows")
    if worst and worst.get("rows"):
        parts.append(
            "<h3>Valid rows with the highest loss</h3><p class='muted'>CSV line (the header is "
            "line 1), given and predicted target, and the row's values as in the file.</p>"
            + table(
                ["line", "given", "predicted", "loss", *worst["columns"]],
                [
                    [r["line"], r["given"], r["predicted"], r["loss"], *r["values"]]
                    for r in worst["rows"]
                ],
            )  # fmt: skip
        )
    for m in results.get("embedding_maps") or []:
        parts.append(
            f"<h3>Embedding of {esc(m['column'])} (PCA, 2-D)</h3>"
            + scatter_svg(m["x"], m["y"], m["labels"])
        )
    return "".join(parts)


def suspects_html(evidence: dict[str, Any]) -> str:
    """The audit's label-noise suspects of a table as rows (escaped): CSV line (or the
    sample's index), split, given vs predicted label, the cheap model's confidence in the
    given label, and the row's values. "" when the suspects are not rows (images, signals)."""
    from nnrecipe.html import table

    columns = evidence.get("columns")
    suspects = [s for s in evidence.get("suspects") or [] if isinstance(s, dict) and "values" in s]
    if not columns or not suspects:
        return ""
    lines = any(s.get("line") is not None for s in suspects)
    return (
        "<h3>Suspicious labels (audit): the rows</h3><p class='muted'>"
        + ("CSV line (the header is line 1)" if lines else "The sample's index in the data")
        + ", the given label and the one a cross-validated cheap model predicts, its "
        "confidence in the given label (low: suspicious), and the row's values.</p>"
        + table(
            [
                "line" if lines else "index",
                "split",
                "given",
                "predicted",
                "confidence in given",
                *columns,
            ],
            [
                [
                    s.get("line") if lines else s.get("index"),
                    s.get("split"),
                    s.get("given"),
                    s.get("predicted"),
                    s.get("confidence_in_given"),
                    *s["values"],
                ]
                for s in suspects
            ],
        )
    )


def scatter_svg(xs: list[float], ys: list[float], labels: list[str], size: int = 360) -> str:
    """A labelled scatter plot as inline SVG (labels escaped)."""
    from nnrecipe.html import esc

    if not xs:
        return ""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    pad = 40

    def scale(v: np.ndarray) -> np.ndarray:
        span = float(v.max() - v.min()) or 1.0
        return pad + (v - v.min()) / span * (size - 2 * pad)

    px, py = scale(x), size - scale(y)
    dots = "".join(
        f"<circle cx='{a:.1f}' cy='{b:.1f}' r='3' fill='#4477aa'/>"
        + (f"<text x='{a + 4:.1f}' y='{b - 4:.1f}' font-size='10'>{esc(t)}</text>" if t else "")
        for a, b, t in zip(px, py, labels, strict=True)
    )
    return f"<svg width='{size}' height='{size}' role='img' aria-label='embedding map'>{dots}</svg>"
