"""The report's second half: inside the model, results, diagnosis and tuning, reproducibility
(sections 6–9)."""

from __future__ import annotations

from typing import Any

from nnrecipe.report.folder import RunFolder
from nnrecipe.report.page import (
    absent,
    bars,
    esc,
    figure,
    fmt,
    heat,
    kv_grid,
    kv_table,
    note,
    png_img,
    pre_json,
    table,
)
from nnrecipe.report.sections import artifacts_html, thumb_html

# A confusion matrix with more classes than this is shown as the plots stage's PNG.
MAX_HTML_CONFUSION = 30


# -- 6. inside the model -------------------------------------------------------------------------


def model_section(run: RunFolder, extra_plots: dict[str, bytes]) -> str:
    parts = []
    train = run.stage("train") or {}
    cfg = run.config.get("config") or {}
    parts.append(
        kv_table(
            [
                ("model", cfg.get("model") or "built-in default for the modality"),
                ("parameters", train.get("parameters")),
                ("batch size", train.get("batch_size")),
                ("threads", train.get("threads")),
            ]
        )
    )
    parts.append("<h3>First-layer filters</h3>")
    if "filters" in extra_plots:
        parts.append(
            figure(
                png_img(extra_plots["filters"], alt="first-layer filters"),
                f"{run.extras.get('first_conv')}: smooth, varied filters are healthy; noisy or "
                "identical ones mean too little training or a too-high learning rate.",
            )
        )
    else:
        parts.append(
            note(
                "The model has no convolution layer (or model.safetensors is missing): no filters to show."
            )
        )
    rec = run.monitor
    parts.append("<h3>Activation statistics per layer (fixed validation batch)</h3>")
    if rec and "activations" in extra_plots:
        parts.append(
            figure(
                png_img(extra_plots["activations"], alt="activation statistics"),
                "Dead units output zero for every sample: they learn nothing. A mean or std "
                "drifting by orders of magnitude points at a scale problem.",
            )
        )
        last = rec["epochs"][-1]
        rows = [
            (
                name,
                (last["activations"].get(name) or {}).get("dead"),
                (last["activations"].get(name) or {}).get("mean"),
                (last["activations"].get(name) or {}).get("std"),
            )
            for name in rec["layers"]
        ]
        parts.append(
            table(
                [f"layer (epoch {last['epoch']})", "dead fraction", "mean", "std"], rows, cls="num"
            )
        )
    else:
        parts.append(
            absent(
                "Not recorded", "(monitor.json is missing: training did not run with the monitor)."
            )
        )
    parts.append("<h3>Gradient norms over training</h3>")
    if "grads" in extra_plots:
        parts.append(
            figure(
                png_img(extra_plots["grads"], alt="gradient norms"),
                "Root mean square over each epoch's steps of the gradient norm before clipping. "
                "Norms collapsing toward the input layers mean vanishing gradients.",
            )
        )
    else:
        parts.append(absent("Not recorded."))
    return "".join(parts)


# -- 7. results ----------------------------------------------------------------------------------


def _confusion_html(run: RunFolder, m: list[list[int]]) -> str:
    top = max((v for row in m for v in row), default=0)
    head = "".join(
        f"<th title='{esc(run.class_name(j))}'>{esc(run.class_name(j))}</th>" for j in range(len(m))
    )
    rows = []
    for i, row in enumerate(m):
        cells = "".join(f"<td class='cm' style='{heat(v, top)}'>{v}</td>" for v in row)
        rows.append(f"<tr><th>{esc(run.class_name(i))}</th>{cells}</tr>")
    return (
        f"<div class='scroll'><table class='confusion'><thead><tr><th>true \\ predicted</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def results_section(run: RunFolder) -> str:
    parts = []
    splits = [(s, run.summary.get(s)) for s in ("train", "train_dev", "valid", "test")]
    rows = [(s, *(v.get(k) for k in sorted(v))) for s, v in splits if isinstance(v, dict)]
    if rows:
        keys = sorted(next(v for _, v in splits if isinstance(v, dict)))
        parts.append(table(["split", *keys], rows, cls="num"))
    res = run.extras.get("results") or {}
    if not res and not rows:
        return absent("No results: training or evaluation did not run.")
    plot_files = (run.stage("plots") or {}).get("files") or []
    if run.is_classification:
        cm = res.get("confusion")
        parts.append("<h3>Confusion matrix (valid)</h3>")
        if cm and len(cm) <= MAX_HTML_CONFUSION:
            parts.append(_confusion_html(run, cm))
        else:
            pics = [
                figure(png_img(b, alt=f))
                for f in plot_files
                if "confusion" in f and (b := run.file(f))
            ]
            parts.append("".join(pics) or absent("Not recorded."))
        if res.get("per_class"):
            rows = [
                (
                    esc(run.class_name(r["class"])),
                    fmt(r["precision"]),
                    fmt(r["recall"]),
                    f"<div class='bar' style='width:{120 * float(r['recall']):.0f}px'></div>",
                    fmt(r["f1"]),
                    fmt(r["support"]),
                )
                for r in res["per_class"]
            ]
            parts.append(
                "<h3>Per-class metrics (valid)</h3>"
                + table(
                    ["class", "precision", "recall", "", "F1", "support"], rows, cls="num", raw=True
                )
            )
    else:
        pics = [
            figure(png_img(b, alt=f), "predicted vs true (valid)")
            for f in plot_files
            if "predicted_vs_true" in f and (b := run.file(f))
        ]
        parts.append(
            "<h3>Predicted vs true (valid)</h3>" + ("".join(pics) or absent("Not recorded."))
        )
    tops = res.get("top_losses") or []
    parts.append("<h3>Top losses (valid): input, given and predicted label</h3>")
    if tops:
        tiles = []
        for t in tops:
            if run.is_classification:
                given, pred = run.class_name(t["given"]), run.class_name(t["predicted"])
                text = (
                    f"<div>given <b>{esc(given)}</b></div><div class='bad'>predicted <b>{esc(pred)}</b> "
                    f"({fmt(t.get('p_predicted'), 2)})</div>"
                )
            else:
                text = f"<div>true <b>{fmt(t['given'])}</b></div><div class='bad'>predicted <b>{fmt(t['predicted'])}</b></div>"
            file = f"<div class='file'>{esc(t['file'])}</div>" if t.get("file") else ""
            tiles.append(
                f"<div class='tile'>{thumb_html(t, 'valid sample')}<div>valid #{esc(t.get('index'))} · loss "
                f"{fmt(t.get('loss'), 3)}</div>{text}{file}</div>"
            )
        parts.append(f"<div class='grid'>{''.join(tiles)}</div>")
        parts.append(
            note(
                "The samples the model gets most wrong: wrong labels, ambiguous inputs or a "
                "blind spot of the model. Fix the labels or collect more samples like these."
            )
        )
    else:
        parts.append(absent("Not recorded."))
    return "".join(parts)


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
            human = "" if flat.get("human_known", True) else " (human error unknown: taken as 0)"
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
    imp = tune.get("importance") or tune.get("importances") or tune.get("param_importances")
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


# -- 9. reproducibility --------------------------------------------------------------------------


def reproducibility_section(run: RunFolder) -> str:
    from nnrecipe.report.build import display_name

    c = run.config
    cfg = c.get("config") or {}
    d = run.data
    parts = [
        kv_table(
            [
                ("command", c.get("command")),
                ("seed", c.get("seed", cfg.get("seed"))),
                ("data fingerprint", d.get("fingerprint")),
                ("data", d.get("name")),
                ("run folder", display_name(run.path)),
            ]
        )
    ]
    parts.append(
        "<h3>Resolved configuration</h3>"
        + kv_grid((k, v if not isinstance(v, dict | list) else str(v)) for k, v in cfg.items())
        + "<h3>Versions</h3>"
        + kv_grid((c.get("versions") or {}).items())
    )
    files = sorted(
        str(p.relative_to(run.path))
        for p in run.path.rglob("*")
        if p.is_file() and "checkpoints" not in p.parts and not p.name.startswith(".")
    )
    parts.append(
        f"<details><summary>files in the run folder ({len(files)})</summary><pre>{esc(chr(10).join(files))}</pre></details>"
    )
    return "".join(parts)
