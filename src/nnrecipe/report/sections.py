"""The report's first half: verdict strip, findings, data, baselines, training (sections 1–5).

Each function takes a `RunFolder` and returns HTML; a stage that did not run (its
``stages/<name>.json`` is missing) is shown as such, never as a failure of the report.
"""

from __future__ import annotations

from typing import Any

from nnrecipe.report.folder import RunFolder
from nnrecipe.report.page import (
    absent,
    badge,
    bars,
    esc,
    figure,
    fmt,
    histogram_svg,
    kv_table,
    note,
    png_img,
    pre_json,
    sparkline,
    table,
)

VERDICT_STAGES = ("audit", "baselines", "checks", "training", "diagnosis", "tuning", "test")


def _status(findings: list[Any]) -> str:
    sev = {str(f.get("severity")) for f in findings if isinstance(f, dict)}
    return "error" if "error" in sev else "warning" if "warning" in sev else "pass"


def _findings_headline(findings: list[Any]) -> str:
    bad = [f for f in findings if isinstance(f, dict) and f.get("severity") in ("error", "warning")]
    if not bad:
        n = len(findings)
        return "no problems found" + (f" ({n} note{'s' if n != 1 else ''})" if n else "")
    codes = sorted({str(f.get("code")) for f in bad})
    return f"{len(bad)} problem{'s' if len(bad) != 1 else ''}: {', '.join(codes[:3])}{'…' if len(codes) > 3 else ''}"


def _valid_metric(block: Any, metric: str) -> float | None:
    if isinstance(block, dict):
        v = block.get("valid", {})
        if isinstance(v, dict) and isinstance(v.get(metric), int | float):
            return float(v[metric])
    return None


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) not in (None, "", [], {}):
            return d[k]
    return None


def verdict(run: RunFolder) -> list[tuple[str, str, str]]:
    """(stage, status, headline) for each stage of the recipe, in order."""
    m = run.metric
    codes = {str(f.get("code")) for _, f in run.all_findings()}
    out: list[tuple[str, str, str]] = []
    for name in ("audit",):
        st = run.stage(name)
        out.append(
            (name, "absent", "nnrecipe audit DATA runs it")
            if st is None
            else (name, _status(run.findings_of(name)), _findings_headline(run.findings_of(name)))
        )
    base = run.stage("baselines")
    if base is None:
        out.append(("baselines", "absent", "did not run"))
    else:
        parts = [
            f"{k} {_valid_metric(v, m):.3g}"
            for k, v in base.items()
            if _valid_metric(v, m) is not None
        ]
        status = "warning" if "below-baseline" in codes else "pass"
        out.append(("baselines", status, f"valid {m}: " + " · ".join(parts)))
    st = run.stage("checks")
    out.append(
        ("checks", "absent", "nnrecipe check DATA runs it")
        if st is None
        else (
            "checks",
            _status(run.findings_of("checks")),
            _findings_headline(run.findings_of("checks")),
        )
    )
    train = run.stage("train")
    if train is None:
        out.append(("training", "absent", "did not run"))
    else:
        valid = (run.summary.get("valid") or {}).get(m)
        status = (
            "error"
            if "training-diverged" in codes
            else "warning"
            if "below-baseline" in codes
            else "pass"
        )
        head = f"{train.get('epochs_run', '?')} epochs, best {train.get('best_epoch', '?')}"
        if isinstance(valid, int | float):
            head += f" · valid {m} {valid:.4g}"
        out.append(("training", status, head))
    diag = run.stage("diagnose")
    if diag is None:
        out.append(("diagnosis", "absent", "nnrecipe diagnose RUN adds it"))
    else:
        flat = run.flat("diagnose")
        head = _first(flat, "verdict", "diagnosis", "problem")
        if isinstance(head, dict):
            head = _first(head, "verdict", "name", "title", "message")
        errors = flat.get("errors") if isinstance(flat.get("errors"), dict) else {}
        figures = [
            f"{k} {v:.3g}"
            for k, v in errors.items()
            if k in ("train", "valid") and isinstance(v, int | float)
        ]
        text = str(head or _findings_headline(run.findings_of("diagnose")))
        if figures:
            text += " · error " + ", ".join(figures)
        out.append(("diagnosis", _status(run.findings_of("diagnose")), text))
    tune = run.stage("tune")
    if tune is None:
        out.append(("tuning", "absent", "add --tune N to search"))
    else:
        trials = tune.get("trials")
        counts = tune.get("counts") if isinstance(tune.get("counts"), dict) else {}
        n = (
            len(trials)
            if isinstance(trials, list)
            else trials
            if isinstance(trials, int)
            else sum(v for v in counts.values() if isinstance(v, int)) or None
        )
        best = _first(tune, "best_value", "best_score", "best")
        head = f"{n} trials" if n is not None else "ran"
        if isinstance(best, int | float):
            head += f" · best valid error {best:.4g}"
        gain = (run.stage("ensemble") or {}).get("gain")
        if isinstance(gain, dict) and isinstance(gain.get("valid"), int | float):
            head += f" · ensemble gain {gain['valid']:+.4f}"
        out.append(("tuning", _status(run.findings_of("tune")), head))
    test = run.summary.get("test")
    if isinstance(test, dict) and isinstance(test.get(m), int | float):
        n_eval = int(run.summary.get("test_evaluations", 1) or 1)
        status = "warning" if n_eval > 1 else "pass"
        out.append(("test", status, f"{m} {test[m]:.4g} (evaluated {n_eval}×)"))
    else:
        out.append(
            (
                "test",
                "absent",
                "no test split"
                if run.data.get("sizes") and "test" not in run.data["sizes"]
                else "not evaluated",
            )
        )
    return out


def verdict_strip(run: RunFolder) -> str:
    cards = "".join(
        f"<div class='stage {esc(status)}' data-stage='{esc(name)}'><div class='name'>{esc(name)} {badge(status)}</div>"
        f"<div class='fig'>{esc(head)}</div></div>"
        for name, status, head in verdict(run)
    )
    return f"<div class='verdict' id='verdict'>{cards}</div>" + next_step(run)


def next_step(run: RunFolder) -> str:
    """One line: the diagnosis's recommendation, else the fix of the worst finding."""
    text = _first(run.flat("diagnose"), "next_step", "recommendation")
    if isinstance(text, dict):
        text = _first(text, "text", "message", "action")
    source = "diagnosis"
    if not text:
        bad = [
            (st, f)
            for st, f in run.all_findings()
            if f.get("severity") in ("error", "warning") and f.get("fix")
        ]
        if bad:
            stage, f = bad[0]
            text, source = f["fix"], f"{f.get('code')} ({stage})"
    if not text:
        return "<div class='next'><b>Next step:</b> nothing looks wrong; tune the model or collect more data.</div>"
    return f"<div class='next'><b>Next step</b> <span class='muted'>from {esc(source)}</span>: {esc(text)}</div>"


# -- 2. findings ---------------------------------------------------------------------------------


def finding_html(f: dict[str, Any], stage: str = "") -> str:
    """One finding: severity, code, message, fix, evidence and the `nnrecipe explain` text."""
    from nnrecipe.errors import ConfigError
    from nnrecipe.findings import explain

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


def findings(run: RunFolder) -> str:
    items = run.all_findings()
    if not items:
        return note("No findings: no stage reported a problem.")
    counts = {
        s: sum(1 for _, f in items if f.get("severity") == s) for s in ("error", "warning", "info")
    }
    head = " · ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    return f"<p>{esc(head)}, worst first.</p>" + "".join(
        finding_html(f, stage) for stage, f in items
    )


# -- 3. data -------------------------------------------------------------------------------------


def _thumb(item: dict[str, Any], alt: str) -> str:
    if item.get("png"):
        import base64

        return png_img(base64.b64decode(item["png"]), alt=alt, cls="thumb")
    if item.get("series"):
        return sparkline(item["series"][0], width=96, height=40)
    return ""


def _artifacts(
    run: RunFolder, stage: str, keys: tuple[str, ...] = (), skip: tuple[str, ...] = ()
) -> str:
    """The stage's pictures (``artifacts``: {name: relative path}), filtered by `keys` words."""
    arts = (run.stage(stage) or {}).get("artifacts") or {}
    if isinstance(arts, list):
        arts = {str(a): a for a in arts}
    if not isinstance(arts, dict):
        return ""
    figs = []
    for name, rel in arts.items():
        if keys and not any(k in f"{name} {rel}".lower() for k in keys):
            continue
        if str(name) in skip:
            continue
        data = run.file(str(rel)) if str(rel).lower().endswith(".png") else None
        if data:
            figs.append(figure(png_img(data, alt=str(name)), str(name).replace("_", " ")))
    return f"<div class='plots'>{''.join(figs)}</div>" if figs else ""


def data_section(run: RunFolder) -> str:
    d, x = run.data, run.extras
    meta = d.get("meta") or {}
    parts = [
        kv_table(
            [
                ("name", d.get("name")),
                ("modality", d.get("modality")),
                ("task", run.task.get("name")),
                ("input shape", " × ".join(map(str, d.get("input_shape") or []))),
                ("split sizes", ", ".join(f"{k} {v}" for k, v in (d.get("sizes") or {}).items())),
                ("classes", len(run.classes) if run.classes else "—"),
                ("source", meta.get("source")),
            ]
        )
    ]
    if x.get("class_counts"):
        labels = [run.class_name(i) for i in range(len(next(iter(x["class_counts"].values()))))]
        # The overview and the histogram side by side.
        parts = [
            f"<div class='twocol'><div>{parts[0]}</div><div><h3 class='top'>Class histogram</h3>"
            f"{bars(labels, x['class_counts'])}</div></div>"
        ]
    elif x.get("target_hist"):
        th = x["target_hist"]
        rows = [(esc(k), histogram_svg(v)) for k, v in th["counts"].items()]
        parts.append(
            f"<h3>Target distribution</h3><p class='muted'>from {fmt(th['edges'][0])} to "
            f"{fmt(th['edges'][-1])}</p>" + table(["split", "histogram"], rows, raw=True)
        )
    if x.get("samples"):
        rows = []
        for row in x["samples"]:
            name = run.class_name(row["class"])
            thumbs = "".join(_thumb(it, f"{name} #{it.get('position')}") for it in row["items"])
            rows.append(
                f"<div class='classrow'><div class='rowlabel'>{esc(name)}</div><div class='grid'>{thumbs}</div></div>"
            )
        parts.append("<h3>Samples per class (train)</h3>" + "".join(rows))
    if x.get("features"):
        rows = [
            (
                esc(f["name"]),
                fmt(f["mean"]),
                fmt(f["std"]),
                fmt(f["min"]),
                fmt(f["max"]),
                fmt(f["non_finite"]),
                fmt(f["corr_target"]),
                histogram_svg(f["hist"]),
            )
            for f in x["features"]
        ]
        parts.append(
            "<h3>Per-feature summary (train, as the model sees it)</h3>"
            + table(
                [
                    "feature",
                    "mean",
                    "std",
                    "min",
                    "max",
                    "NaN/Inf",
                    "corr. with target",
                    "histogram",
                ],
                rows,
                raw=True,
                cls="num",
            )
        )
    audit = run.stage("audit")
    if audit is None:
        parts.append(
            "<h3>Audit</h3>"
            + absent(
                "The audit stage did not run:",
                "duplicates, leaks, suspicious labels and outliers were not looked for.",
            )
        )
    else:
        # The audit's own grid of samples repeats the one above when the report has it.
        pics = _artifacts(run, "audit", skip=("samples",) if x.get("samples") else ())
        parts.append(
            "<h3>Audit pictures: duplicates and leaks, suspicious labels, outliers</h3>"
            + (pics or note("The audit wrote no pictures (nothing to show)."))
        )
        stats = run.part("audit", "stats")
        if stats:
            parts.append(
                f"<details><summary>audit statistics</summary>{pre_json(stats, limit=4000)}</details>"
            )
    return "".join(parts)


# -- 4. baselines ------------------------------------------------------------------------------


def _loss_of(block: Any) -> Any:
    if isinstance(block, dict):
        for k in ("loss", "nll", "mse"):
            if isinstance(block.get(k), int | float):
                return block[k]
    return None


def baselines_section(run: RunFolder) -> str:
    base = run.stage("baselines")
    if base is None:
        return absent("The baselines stage did not run.")
    m = run.metric
    rows = []
    for name, v in base.items():
        if isinstance(v, dict) and "valid" in v:
            rows.append(
                (name, _valid_metric(v, m), _loss_of(v.get("valid")), (v.get("test") or {}).get(m))
            )
        elif name == "human" and isinstance(v, dict):
            rows.append(("human (given)", f"error {fmt(v.get('error'))}", "—", "—"))
    checks = run.flat("checks")
    ignored = checks.get("input_ignored") if isinstance(checks.get("input_ignored"), dict) else {}
    if ignored:
        rows.append(
            (
                "input-independent: trained on zeroed inputs (checks)",
                "—",
                ignored.get("heldout_loss_zero"),
                "—",
            )
        )
        rows.append(
            (
                "… the same, trained on real inputs (checks)",
                "—",
                ignored.get("heldout_loss_real"),
                "—",
            )
        )
    else:
        rows.append(
            ("input-independent", "— (measured by the checks stage, which did not run)", "—", "—")
        )
    rows.append(
        (
            "the model",
            (run.summary.get("valid") or {}).get(m),
            _loss_of(run.summary.get("valid")),
            (run.summary.get("test") or {}).get(m),
        )
    )
    parts = [table(["", f"valid {m}", "valid loss", f"test {m}"], rows, cls="num")]
    expected = base.get("expected_loss_at_init")
    init = checks.get("loss_at_init") if isinstance(checks.get("loss_at_init"), dict) else {}
    measured, where = init.get("loss"), "by the checks stage on a training batch"
    if not isinstance(measured, int | float):
        measured, where = (
            ((run.monitor or {}).get("init") or {}).get("loss"),
            "on valid before the first step",
        )
    if isinstance(expected, int | float):
        line = f"Expected loss at init {fmt(expected)} (the class prior's entropy / the target variance)"
        status = "info"
        if isinstance(measured, int | float):
            ratio = measured / expected if expected else float("inf")
            status = "pass" if abs(ratio - 1) <= 0.1 else "warning"
            line += f"; measured {where}: {fmt(measured)} (ratio {ratio:.3f})."
        parts.append(
            f"<h3>Loss at init</h3><p>{badge(status)} {esc(line)}</p>"
            "<p class='muted'>A model initialised well predicts the class prior (or the target "
            "mean) at init, so its loss starts at the expected value; far above it, the last "
            "layer is badly initialised and early training is wasted undoing it.</p>"
        )
    return "".join(parts)


# -- 5. training ---------------------------------------------------------------------------------


def training_section(run: RunFolder, extra_plots: dict[str, bytes]) -> str:
    parts = []
    files = (run.stage("plots") or {}).get("files") or []
    figs = [
        figure(png_img(b, alt=f), f)
        for f in files
        if not any(w in f for w in ("confusion", "predicted_vs_true")) and (b := run.file(f))
    ]
    if figs:
        parts.append(
            "<h3>Loss, metric and learning rate</h3><div class='plots'>" + "".join(figs) + "</div>"
        )
    elif not run.metrics:
        return absent("Training did not run.")
    if run.metrics:
        keys = [k for k in run.metrics[0] if k != "seconds"]
        rows = [[r.get(k) for k in keys] for r in run.metrics]
        parts.append(
            f"<details><summary>metrics per epoch ({len(rows)} epochs)</summary>"
            f"{table(keys, rows, cls='num')}</details>"
        )
    parts.append("<h3>Learning-rate range test</h3>")
    rng = run.flat("checks").get("lr_range")
    if "lr_range" in extra_plots and isinstance(rng, dict):
        keys = (
            ("lr_min", "lr at the loss minimum"),
            ("suggested", "suggested lr (minimum / 10)"),
            ("lr_diverge", "lr where the loss diverges"),
            ("configured", "configured lr"),
        )
        parts.append(
            figure(
                png_img(extra_plots["lr_range"], alt="learning-rate range test"),
                "Smith's range test (from the checks stage): the learning rate grows each step "
                "of a fresh copy of the model.",
            )
        )
        parts.append(kv_table((label, rng.get(k)) for k, label in keys if k in rng))
    else:
        parts.append(
            absent("The learning-rate range test did not run", "(it is part of the checks stage).")
        )
    parts.append("<h3>Prediction dynamics</h3>")
    if "dynamics" in extra_plots:
        parts.append(
            figure(
                png_img(extra_plots["dynamics"], alt="prediction dynamics"),
                "Each row is one validation sample followed from init (epoch 0) to the end. "
                "Rows that stay red are samples the model never gets right: look at them.",
            )
        )
    else:
        parts.append(absent("No prediction dynamics were recorded", "(monitor.json is missing)."))
    return "".join(parts)
