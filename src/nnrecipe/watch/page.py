"""The report page of a watched loop (``w.report(folder)``): the same page shell, escaping and
finding cards as a run's report, with what the watcher saw instead of the run's stages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nnrecipe.findings import Result
from nnrecipe.html import document, esc, kv_table, note, section, table
from nnrecipe.io import atomic_write_text
from nnrecipe.notebook import finding_html, line_chart

SECTIONS = (
    ("findings", "Findings"),
    ("loop", "The loop"),
    ("curves", "Loss, gradient norm and learning rate"),
    ("checks", "Checks on the first batch"),
)


def _findings(result: Result) -> str:
    items = result.at_least("info")
    if not items:
        return note("No findings: the watched loop showed none of the bugs nnrecipe looks for.")
    return "".join(finding_html(f.to_dict(), result.stage) for f in items)


def _loop(stats: dict[str, Any]) -> str:
    pairs = [
        ("optimizer steps", stats.get("steps")),
        ("backward passes", stats.get("backward_passes")),
        ("forward passes of the model", stats.get("forward_passes")),
        ("epochs (training DataLoader passes)", stats.get("epochs") or "not seen"),
        ("steps per epoch", stats.get("steps_per_epoch") or "not seen"),
        ("evaluation phases", stats.get("evaluation_phases")),
        ("dropout / BatchNorm modules", stats.get("dropout_batchnorm_modules")),
        ("schedulers stepped", ", ".join(stats.get("schedulers") or []) or "none"),
        ("measured every", f"{stats.get('every')} steps (the first 20 all)"),
        ("seconds in the block", stats.get("seconds")),
    ]
    if stats.get("exception"):
        pairs.append(("the block raised", stats["exception"]))
    if stats.get("watch_failure"):
        pairs.append(("the watcher stopped early", stats["watch_failure"]))
    opts = stats.get("optimizers") or []
    rows = [(o["index"], o["class"], o["steps"], _last_lr(o)) for o in opts]
    return kv_table(pairs) + (
        table(["optimizer", "class", "steps", "last learning rate"], rows) if rows else ""
    )


def _last_lr(o: dict[str, Any]) -> Any:
    return o["lr"][-1][1] if o.get("lr") else None


def _finite(series: list[Any]) -> list[float]:
    return [float(v) for _, v in series if isinstance(v, int | float) and math.isfinite(v)]


def _curves(stats: dict[str, Any]) -> str:
    charts = []
    loss = _finite(stats.get("loss") or [])
    if len(loss) >= 2:
        charts.append(
            ("loss (sampled backward passes)", line_chart({"loss": loss}, title="sample"))
        )
    norms = _finite(stats.get("grad_norm") or [])
    if len(norms) >= 2:
        charts.append(
            (
                "global gradient norm (sampled steps)",
                line_chart({"grad norm": norms}, title="sample"),
            )
        )
    for o in stats.get("optimizers") or []:
        lrs = o.get("lr") or []
        if len(lrs) >= 2:
            values = _expand(lrs, o["steps"])
            charts.append(
                (
                    f"learning rate, optimizer {o['index']} ({o['class']})",
                    line_chart({"lr": values}, title="step"),
                )
            )
    if not charts:
        return note("Too few steps were measured to draw curves.")
    return (
        "<div class='plots'>"
        + "".join(
            f"<figure>{svg}<figcaption>{esc(cap)}</figcaption></figure>" for cap, svg in charts
        )
        + "</div>"
    )


def _expand(changes: list[Any], steps: int, limit: int = 400) -> list[float]:
    """Per-step values from (step, value) change points, at most `limit` points."""
    out, j = [], 0
    stride = max(1, steps // limit)
    for s in range(1, steps + 1, stride):
        while j + 1 < len(changes) and changes[j + 1][0] <= s:
            j += 1
        out.append(float(changes[j][1]))
    return out


def watch_html(result: Result, *, checks: Result | None = None, title: str = "watched loop") -> str:
    """The page of a watched loop as one self-contained HTML string."""
    stats = result.stats
    checks_body = (
        _findings(checks)
        if checks is not None
        else note(
            "nr.check did not run on this loop (the Lightning callback runs it with check=True)."
        )
    )
    bodies = {
        "findings": _findings(result),
        "loop": _loop(stats),
        "curves": _curves(stats),
        "checks": checks_body,
    }
    body = "".join(section(a, i + 1, t, bodies[a]) for i, (a, t) in enumerate(SECTIONS))
    n = {s: len([f for f in result if f.severity == s]) for s in ("error", "warning")}
    header = (
        f"<h1>nnrecipe report · {esc(title)}</h1>"
        f"<div class='sub'>nr.watch · {esc(stats.get('steps'))} optimizer steps</div>"
        f"<div class='headline'>{n['error']} errors · {n['warning']} warnings</div>"
    )
    return document(title=f"nnrecipe: {title}", header=header, nav=SECTIONS, body=body)


def write_watch_report(
    result: Result, folder: str | Path, *, checks: Result | None = None, title: str = "watched loop"
) -> Path:
    """Write ``watch.json`` and ``report.html`` into `folder` (created); returns the page."""

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / "watch.json", result.to_json())
    page = path / "report.html"
    atomic_write_text(page, watch_html(result, checks=checks, title=title))
    return page
