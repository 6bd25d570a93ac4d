"""The report's diagnosis and tuning section (8): Ng's table of errors and gaps with the next
step; the search's history, best trials, parameter importances and the ensemble's gain."""

from __future__ import annotations

from typing import Any

from nnrecipe.html import absent, bars, esc, figure, fmt, kv_table, png_img, pre_json, table
from nnrecipe.report.folder import RunFolder
from nnrecipe.report.sections import artifacts_html

# -- 8. diagnosis and tuning ---------------------------------------------------------------------

_NEXT_KEYS = ("next_step", "recommendation", "next", "action")
LEVELS = ("human", "train", "train_dev", "valid", "test")


def _scalar_items(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in d.items() if isinstance(v, str | int | float | bool) or v is None]


def _rows_table(rows: list[Any], limit: int = 200) -> str:
    rows = [r for r in rows if isinstance(r, dict)][:limit]
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return table(
        keys,
        [
            [r.get(k) if not isinstance(r.get(k), dict | list) else str(r.get(k)) for k in keys]
            for r in rows
        ],
    )


def diagnosis_section(run: RunFolder, extra_plots: dict[str, bytes] | None = None) -> str:
    parts = ["<h3>Diagnosis (Ng): avoidable bias, variance, data mismatch</h3>"]
    diag = run.stage("diagnose")
    if diag is None:
        parts.append(absent("The diagnosis stage did not run."))
    else:
        flat = run.flat("diagnose")
        verdict = flat.get("verdict")
        if verdict:
            parts.append(f"<p>Verdict: <b>{esc(verdict)}</b></p>")
        nxt = next((flat[k] for k in _NEXT_KEYS if flat.get(k)), None)
        if nxt:
            parts.append(f"<div class='next'><b>Recommended next step:</b> {esc(nxt)}</div>")
        errors = flat.get("errors")
        if isinstance(errors, dict) and errors:
            order = [k for k in LEVELS if k in errors] + [k for k in errors if k not in LEVELS]
            human = (
                ""
                if flat.get("human_known", True)
                else " (human error unknown: avoidable bias judged from the baselines)"
            )
            parts.append(
                f"<h3>Errors by level{esc(human)}</h3>"
                + table(order, [[errors[k] for k in order]], cls="num")
            )
        gaps = flat.get("table")
        if isinstance(gaps, list) and gaps:
            rows = [
                (
                    g.get("gap"),
                    f"{g.get('from')} → {g.get('to')}",
                    g.get("value"),
                    g.get("threshold"),
                    "yes" if g.get("significant") else "no",
                )
                for g in gaps
                if isinstance(g, dict)
            ]
            parts.append(
                "<h3>Gaps between levels</h3>"
                + table(
                    ["gap", "between", "size", "noise threshold", "significant"], rows, cls="num"
                )
            )
        others = [
            (k, v)
            for k, v in _scalar_items(flat)
            if k not in (*_NEXT_KEYS, "verdict", "stage", "ok")
        ]
        if others:
            parts.append(kv_table(others))
        parts.append(artifacts_html(run, "diagnose"))
        parts.append(
            f"<details><summary>diagnosis (raw)</summary>{pre_json(diag, limit=6000)}</details>"
        )
    parts.append("<h3>Tuning</h3>")
    tune = run.stage("tune")
    if tune is None:
        parts.append(
            absent("Tuning did not run", "(`nnrecipe run DATA --tune N` or `nnrecipe tune DATA`).")
        )
        return "".join(parts)
    facts = [(k, v) for k, v in _scalar_items(tune) if k not in ("stage", "ok")]
    if isinstance(tune.get("counts"), dict):
        facts.append(("trials", ", ".join(f"{v} {k}" for k, v in tune["counts"].items())))
    parts.append(kv_table(facts))
    best = tune.get("best_params")
    if isinstance(best, dict) and best:
        parts.append("<h3>Best parameters</h3>" + kv_table(best.items()))
    if extra_plots and "tuning" in extra_plots:
        parts.append(
            figure(
                png_img(extra_plots["tuning"], alt="tuning history"),
                "Validation error per trial, pruned trials marked, and the best so far.",
            )
        )
    trials = tune.get("trials") if isinstance(tune.get("trials"), list) else tuning_trials(run)
    done = [t for t in trials if isinstance(t, dict) and isinstance(t.get("value"), int | float)]
    if done:
        top = sorted(done, key=lambda t: t["value"])[:10]
        rows = [
            (
                t.get("number"),
                t.get("state"),
                t.get("value"),
                ", ".join(f"{a}={fmt(b, 3)}" for a, b in (t.get("params") or {}).items()),
            )
            for t in top
        ]
        parts.append(
            f"<h3>Best trials ({len(done)} with a score)</h3>"
            + table(["#", "state", "valid error", "params"], rows)
        )
    imp = tune.get("importance")
    if isinstance(imp, dict) and imp:
        parts.append(
            "<h3>Parameter importances</h3>"
            + bars(
                [str(k) for k in imp],
                {"importance": [float(v) for v in imp.values()]},
                fmt_value="{:.3f}",
            )
        )
    parts.append(_ensemble(run))
    parts.append(artifacts_html(run, "tune"))
    parts.append(f"<details><summary>tuning (raw)</summary>{pre_json(tune, limit=6000)}</details>")
    return "".join(parts)


def tuning_trials(run: RunFolder) -> list[dict[str, Any]]:
    """The study's trials from ``tune/tune.json`` (the tune stage keeps only their count)."""
    import json

    folder = (run.stage("tune") or {}).get("folder") or "tune"
    raw = run.file(f"{folder}/tune.json")
    try:
        trials = json.loads(raw)["trials"] if raw else []
    except (ValueError, KeyError, TypeError):
        return []
    return [t for t in trials if isinstance(t, dict)] if isinstance(trials, list) else []


def _ensemble(run: RunFolder) -> str:
    ens = run.stage("ensemble")
    if ens is None:
        return "<h3>Ensemble</h3>" + absent("No ensemble", "(`--ensemble K` with `--tune N`).")
    parts = [
        "<h3>Ensemble</h3>",
        kv_table(
            [
                ("members (trials)", ", ".join(map(str, ens.get("members") or []))),
                ("final model", ens.get("final")),
                (
                    "gain (valid error reduction; positive = better)",
                    (ens.get("gain") or {}).get("valid")
                    if isinstance(ens.get("gain"), dict)
                    else ens.get("gain"),
                ),
                ("single model valid error", ens.get("single_valid_error")),
            ]
        ),
    ]
    scores = ens.get("scores")
    if isinstance(scores, dict):
        m = run.metric
        rows = [
            (split, (v.get("best_single") or {}).get(m), (v.get("ensemble") or {}).get(m))
            for split, v in scores.items()
            if isinstance(v, dict)
        ]
        parts.append(table(["split", f"best single {m}", f"ensemble {m}"], rows, cls="num"))
    return "".join(parts)
