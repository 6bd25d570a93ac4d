"""The report's inside-the-model, results and reproducibility sections (6, 7, 9)."""

from __future__ import annotations

from nnrecipe.html import (
    absent,
    esc,
    figure,
    kv_grid,
    kv_table,
    note,
    png_img,
    table,
)
from nnrecipe.report.folder import RunFolder, display_name
from nnrecipe.tasks import table_report

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
    if (res.get("worst_rows") or {}).get("rows"):  # a table's worst rows replace the tiles
        res = {**res, "top_losses": None}
    parts.append(run.task_object.report_results(run, res, plot_files))
    parts.append(table_report.html(res))  # a CSV table's rows and embedding maps, if stored
    return "".join(parts)


# -- 9. reproducibility --------------------------------------------------------------------------


def reproducibility_section(run: RunFolder) -> str:

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
