"""The report's data, baselines and training sections (3–5).

Each function takes a `RunFolder` and returns HTML; a stage that did not run (its
``stages/<name>.json`` is missing) is shown as such, never as a failure of the report.
"""

from __future__ import annotations

from typing import Any

from nnrecipe.html import (
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
    table,
    thumb_html,
)
from nnrecipe.report.folder import RunFolder
from nnrecipe.tasks import table_report


def artifacts_html(
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
                ("task", run.task.get("kind_label") or run.task.get("name")),
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
            thumbs = "".join(thumb_html(it, f"{name} #{it.get('position')}") for it in row["items"])
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
        pics = artifacts_html(run, "audit", skip=("samples",) if x.get("samples") else ())
        parts.append(
            "<h3>Audit pictures: duplicates and leaks, suspicious labels, outliers</h3>"
            + (pics or note("The audit wrote no pictures (nothing to show)."))
        )
        for f in run.findings_of("audit"):  # a table's suspects are rows, not pictures
            if f.get("code") == "label-noise" and isinstance(f.get("evidence"), dict):
                parts.append(table_report.suspects_html(f["evidence"]))
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
    base = run.result("baselines")
    if base is None:
        return absent("The baselines stage did not run.")
    m = run.metric
    rows = []
    for name, v in base.models.items():
        if "valid" in v:
            rows.append(
                (
                    name,
                    (v.get("valid") or {}).get(m),
                    _loss_of(v.get("valid")),
                    (v.get("test") or {}).get(m),
                )
            )
    if base.human_error is not None:
        rows.append(("human (given)", f"error {fmt(base.human_error)}", "—", "—"))
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
    summary = run.typed_summary
    rows.append(
        (
            "the model",
            (summary.valid or {}).get(m),
            _loss_of(summary.valid),
            (summary.test or {}).get(m),
        )
    )
    parts = [table(["", f"valid {m}", "valid loss", f"test {m}"], rows, cls="num")]
    expected = base.expected_loss_at_init
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
