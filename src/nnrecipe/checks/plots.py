"""Pictures of what `nr.check` measured (matplotlib, loaded only here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nnrecipe.findings import Result


def lr_range_plot(stats: dict[str, Any], path: Path) -> Path | None:
    """The learning-rate range test: training loss vs learning rate (log scale), with the
    configured rate, the rate at the loss minimum and the suggested rate marked."""
    r = stats.get("lr_range") or {}
    lrs, losses = r.get("lrs") or [], r.get("losses") or []
    pairs = [
        (a, b)
        for a, b in zip(lrs, losses, strict=False)
        if isinstance(b, int | float) and math.isfinite(b)
    ]
    if len(pairs) < 3:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([a for a, _ in pairs], [b for _, b in pairs], lw=1.2, label="training loss")
    marks = (
        ("configured", r.get("configured"), "C3"),
        ("loss minimum", r.get("lr_min"), "C2"),
        ("suggested", r.get("suggested"), "C1"),
        ("--lr auto", r.get("auto"), "C4"),
    )
    for label, value, color in marks:
        if isinstance(value, int | float) and value > 0:
            ax.axvline(value, ls="--", lw=1, color=color, label=f"{label} {value:.2g}")
    ax.set_xscale("log")
    low, high = min(b for _, b in pairs), pairs[0][1]
    if high > low:
        ax.set_ylim(low - 0.05 * (high - low), high + 0.5 * (high - low))
    ax.set(xlabel="learning rate", ylabel="loss", title="Learning-rate range test")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def save_plots(result: Result, folder: Path) -> dict[str, str]:
    """Write the check's pictures into `folder`; returns ``{name: file name}``."""
    out = {}
    p = lr_range_plot(result.stats, Path(folder) / "lr_range.png")
    if p is not None:
        out["lr_range"] = p.name
    return out
