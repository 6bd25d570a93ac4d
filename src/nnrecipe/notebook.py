"""Jupyter display (`_repr_html_`) of a `Result`, a `Learner` and a finished run, built from the
same blocks as the report page. Light: no matplotlib (curves are inline SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nnrecipe.errors import ConfigError
from nnrecipe.findings import explain
from nnrecipe.html import CSS, badge, esc, fmt, pre_json, table

# Notebook output is embedded in the notebook's page: scope the report's CSS to one class.
_SCOPE = "nnrecipe"


def _scoped_css() -> str:
    import re

    body = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", CSS)  # page-only layout rules
    body = re.sub(r":root\{", f".{_SCOPE}{{", body)
    out = []
    for rule in re.findall(r"([^{}]+)\{([^{}]*)\}", body):
        sel, decl = rule
        sel = sel.strip()
        if sel.startswith("@") or not sel:
            continue
        if sel.startswith(f".{_SCOPE}"):
            out.append(f"{sel}{{{decl}}}")
            continue
        scoped = ",".join(
            f".{_SCOPE} {s.strip()}" for s in sel.split(",") if s.strip() not in ("body", "*")
        )
        if scoped:
            out.append(f"{scoped}{{{decl}}}")
    return "".join(out)


def wrap(inner: str) -> str:
    return f"<div class='{_SCOPE}'><style>{_scoped_css()}</style>{inner}</div>"


def result_html(result: Any) -> str:
    """A `Result`: status line and one card per finding (with evidence and explanation)."""

    status = "ok" if result.ok else "errors found"
    cards = "".join(finding_html(f.to_dict(), "") for f in result.at_least("info"))
    body = cards or "<p class='muted'>No findings.</p>"
    return wrap(
        f"<h3>{esc(result.stage or 'nnrecipe')}: {esc(status)} ({len(result)} findings)</h3>{body}"
    )


def line_chart(
    series: dict[str, Sequence[float]], *, width: int = 420, height: int = 150, title: str = ""
) -> str:
    """A small inline SVG line chart of a few series over the same x (epochs 1..n)."""
    vals = [float(v) for s in series.values() for v in s if v == v]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    pad = 28
    colors = ("#2f6fb3", "#e07b1a", "#3a9a4a", "#8a4fbf")
    lines = []
    for i, (name, s) in enumerate(series.items()):
        n = max(len(s) - 1, 1)
        pts = " ".join(
            f"{pad + k * (width - pad - 8) / n:.1f},{height - 18 - (float(v) - lo) / span * (height - 36):.1f}"
            for k, v in enumerate(s)
        )
        lines.append(
            f"<polyline fill='none' stroke='{colors[i % 4]}' stroke-width='1.6' points='{pts}'/>"
            f"<text x='{pad + 4 + 90 * i}' y='12' font-size='11' fill='{colors[i % 4]}'>{esc(name)}</text>"
        )
    axis = (
        f"<text x='2' y='{height - 18}' font-size='10' fill='#666'>{esc(f'{lo:.3g}')}</text>"
        f"<text x='2' y='24' font-size='10' fill='#666'>{esc(f'{hi:.3g}')}</text>"
        f"<text x='{width - 60}' y='{height - 3}' font-size='10' fill='#666'>{esc(title)}</text>"
    )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"
        f"<rect x='{pad}' y='16' width='{width - pad - 8}' height='{height - 34}' fill='none' stroke='#ddd'/>"
        f"{''.join(lines)}{axis}</svg>"
    )


def learner_html(learner: Any) -> str:
    """A `Learner`: model, best epoch, loss curves and the last epochs' metrics."""
    hist = learner.history
    name = type(learner.model).__name__
    head = f"<h3>Learner({esc(name)})</h3>"
    if not hist:
        return wrap(head + "<p class='muted'>Not trained yet: call .fit(epochs).</p>")
    metric = getattr(learner.task, "primary_metric", None)
    facts = (
        f"<p>{len(hist)} epochs · best epoch {fmt(learner.best_epoch)} · best valid {esc(metric)} "
        f"{fmt(learner.best_score)}{' · stopped early' if learner.stopped_early else ''}</p>"
    )
    loss = line_chart(
        {
            "train loss": [r["train_loss"] for r in hist],
            "valid loss": [r["valid_loss"] for r in hist],
        },
        title="epoch",
    )
    m = line_chart(
        {f"valid {metric}": [r.get(f"valid_{metric}", float("nan")) for r in hist]}, title="epoch"
    )
    keys = [k for k in hist[-1] if k != "seconds"]
    rows = [[r.get(k) for k in keys] for r in hist[-10:]]
    return wrap(head + facts + f"<div>{loss} {m}</div>" + table(keys, rows, cls="num"))


def finding_html(f: dict[str, Any], stage: str = "") -> str:
    """One finding: severity, code, message, fix, evidence and the `nnrecipe explain` text."""

    sev = str(f.get("severity", "info"))
    code = str(f.get("code", "?"))
    try:
        why = explain(code)
    except ConfigError:
        why = f"No explanation is registered for {code!r}."
    evidence = f.get("evidence")
    ev = f"<details><summary>evidence</summary>{pre_json(evidence)}</details>" if evidence else ""
    where = f"<span class='where'> · {esc(stage)}</span>" if stage else ""
    return (
        f"<div class='finding {esc(sev)}'>{badge(sev)} <span class='code'>{esc(code)}</span>{where}"
        f"<div class='msg'>{esc(f.get('message', ''))}</div>"
        f"<div class='fix'><b>Fix:</b> {esc(f.get('fix', ''))}</div>{ev}"
        f"<details><summary>Why it matters (<code>nnrecipe explain {esc(code)}</code>)</summary>"
        f"<pre>{esc(why)}</pre></details></div>"
    )
