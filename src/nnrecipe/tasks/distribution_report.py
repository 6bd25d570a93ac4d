"""The distribution task's report parts: predicted CDFs of a few valid samples with their true
value, the PIT histogram (flat when the distributions are calibrated) and the reliability
diagram (observed vs nominal coverage of the central intervals)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

N_CDFS = 6
PIT_BINS = 10
TOP = 8
GRID = 120


def _grid(task: Any, out: Tensor, y: Tensor) -> np.ndarray:
    lo = float(min(task.quantile(out, 0.005).min(), y.min()))
    hi = float(max(task.quantile(out, 0.995).max(), y.max()))
    return np.linspace(lo, hi, GRID)


def _cdf_curve(task: Any, row: Tensor, grid: np.ndarray) -> list[float]:
    xs = torch.from_numpy(grid.astype(np.float32))
    return [round(float(v), 4) for v in task.cdf_at(row.expand(len(xs), -1), xs)]


def reliability(task: Any, out: Tensor, y: Tensor) -> dict[str, list[float]]:
    from nnrecipe.tasks.distribution import LEVELS

    observed = []
    for level in LEVELS:
        lo, hi = task.quantile(out, 0.5 - level / 2), task.quantile(out, 0.5 + level / 2)
        observed.append(round(float(((y >= lo) & (y <= hi)).float().mean()), 4))
    return {"nominal": list(LEVELS), "observed": observed}


def collect(task: Any, out: Tensor, y: Tensor, sample: Callable[..., Any]) -> dict[str, Any]:
    out, y = out.float(), y.float().reshape(-1)
    grid = _grid(task, out, y)
    picks = np.linspace(0, len(y) - 1, min(N_CDFS, len(y))).round().astype(int).tolist()
    pit = task.cdf_at(out, y).clamp(0, 1).numpy()
    counts = np.histogram(pit, bins=PIT_BINS, range=(0, 1))[0].tolist()
    crps = task.crps(out, y)
    worst = torch.argsort(crps, descending=True)[:TOP].tolist()
    return {
        "cdfs": {
            "grid": [round(float(v), 4) for v in grid],
            "samples": [
                {"true": float(y[i]), "cdf": _cdf_curve(task, out[i : i + 1], grid), **sample(i)}
                for i in picks
            ],
        },
        "pit_counts": counts,
        "reliability": reliability(task, out, y),
        "top_losses": [
            {
                "given": float(y[i]),
                "predicted": float(task.quantile(out[i : i + 1], 0.5)[0]),
                "loss": float(crps[i]),
                **sample(i),
            }
            for i in worst
        ],
    }


def plots(task: Any, out: Tensor, y: Tensor, folder: Path) -> list[Path]:
    from nnrecipe.plotting import _plt, _save

    plt = _plt()
    out, y = out.float(), y.float().reshape(-1)
    grid = _grid(task, out, y)
    files = []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    picks = np.linspace(0, len(y) - 1, min(N_CDFS, len(y))).round().astype(int)
    for j, i in enumerate(picks):
        ax.plot(grid, _cdf_curve(task, out[i : i + 1], grid), color=f"C{j}", lw=1.5)
        ax.axvline(float(y[i]), color=f"C{j}", ls=":", lw=1)
    ax.set(xlabel="target", ylabel="predicted CDF", title="Predicted CDFs (dotted: true value)")
    ax.grid(alpha=0.3)
    files.append(_save(fig, folder / "cdfs_valid.png"))

    fig, ax = plt.subplots(figsize=(6, 3.6))
    pit = task.cdf_at(out, y).clamp(0, 1).numpy()
    ax.hist(pit, bins=PIT_BINS, range=(0, 1), color="C0", alpha=0.8)
    ax.axhline(len(pit) / PIT_BINS, color="gray", ls="--", lw=1, label="calibrated")
    ax.set(xlabel="PIT = predicted CDF at the true value", ylabel="samples", title="PIT histogram")
    ax.legend()
    files.append(_save(fig, folder / "pit_valid.png"))

    rel = reliability(task, out, y)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1)
    ax.plot(rel["nominal"], rel["observed"], "o-")
    ax.set(
        xlabel="nominal coverage",
        ylabel="observed coverage",
        title="Reliability (central intervals)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
    files.append(_save(fig, folder / "reliability_valid.png"))
    return files


def report_results(run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
    from nnrecipe.html import absent, figure, fmt, png_img, table, top_loss_tiles

    titles = {
        "cdfs_valid": "predicted CDFs of a few valid samples (dotted: the true value)",
        "pit_valid": "PIT histogram: flat when calibrated, U-shaped when over-confident",
        "reliability_valid": "observed vs nominal coverage of the central intervals",
    }
    pics = [
        figure(png_img(b, alt=t), t)
        for key, t in titles.items()
        for f in plot_files
        if key in f and (b := run.file(f))
    ]
    parts = [
        "<h3>Predicted distributions (valid)</h3>" + ("".join(pics) or absent("Not recorded."))
    ]
    rel = results.get("reliability")
    if rel:
        rows = [[n, o] for n, o in zip(rel["nominal"], rel["observed"], strict=False)]
        parts.append(
            "<h3>Reliability</h3>" + table(["nominal coverage", "observed coverage"], rows)
        )

    def text(t: dict[str, Any]) -> str:
        return (
            f"<div>true <b>{fmt(t['given'])}</b></div>"
            f"<div class='bad'>median <b>{fmt(t['predicted'])}</b>, CRPS {fmt(t['loss'])}</div>"
        )

    parts.append(
        top_loss_tiles(results.get("top_losses", []), text, "input, true value and median")
    )
    return "".join(parts)
