"""Assembling ``report.html`` from a run folder, and the pipeline's report stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrecipe import plotting as plots
from nnrecipe.html import badge, document, esc, section
from nnrecipe.io import atomic_write_text
from nnrecipe.report import diagnosis, transfer
from nnrecipe.report import results as s2
from nnrecipe.report import sections as s1
from nnrecipe.report import verdict as top
from nnrecipe.report.diagnosis import tuning_trials
from nnrecipe.report.folder import RunFolder, display_name

SECTIONS = (
    ("findings", "Findings"),
    ("data", "Data"),
    ("baselines", "Baselines vs the model"),
    ("training", "Training"),
    ("transfer", "Transfer learning"),
    ("model", "Inside the model"),
    ("results", "Results"),
    ("diagnosis", "Diagnosis and tuning"),
    ("reproducibility", "Reproducibility"),
)


def _monitor_plots(run: RunFolder) -> dict[str, bytes]:
    """Plots drawn at report time from monitor.json and model.safetensors (PNG bytes); also
    saved under ``plots/`` when the folder is writable."""
    import tempfile

    out: dict[str, bytes] = {}
    jobs: list[tuple[str, Any, Any]] = []
    rec = run.monitor
    if rec:
        jobs.append(("dynamics", plots.prediction_dynamics, rec))
        if rec.get("layers"):
            jobs.append(("activations", plots.activation_stats, rec))
        if rec.get("weights") and any(e.get("grad_norms") for e in rec["epochs"]):
            jobs.append(("grads", plots.gradient_norms, rec))
    rng = run.flat("checks").get("lr_range")
    if isinstance(rng, dict) and rng.get("lrs") and rng.get("losses"):
        jobs.append(("lr_range", plots.lr_range_test, rng))

    trials = tuning_trials(run) if run.stage("tune") else []
    if trials:
        jobs.append(("tuning", plots.tuning_history, trials))
    weight = _first_conv(run)
    if weight is not None:
        jobs.append(("filters", plots.conv_filters, weight))
    for name, fn, arg in jobs:
        target = run.path / "plots" / f"{name}.png"
        try:
            try:
                fn(arg, target)
            except OSError:  # a read-only run folder: draw into a temporary file instead
                target = Path(tempfile.mkdtemp()) / f"{name}.png"
                fn(arg, target)
            out[name] = target.read_bytes()
        except Exception:  # noqa: BLE001 - a record this version cannot draw: the section says so
            continue
    return out


def _first_conv(run: RunFolder) -> Any:
    path = run.path / "model.safetensors"
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
            name = run.extras.get("first_conv")
            if name not in keys:  # older folder: guess the first conv weight by its rank
                name = next(
                    (
                        k
                        for k in keys
                        if k.endswith("weight") and len(f.get_slice(k).get_shape()) in (3, 4)
                    ),
                    None,
                )
                run.extras["first_conv"] = name
            return None if name is None else f.get_tensor(name)
    except Exception:  # a damaged file: the report still renders, without filters
        return None


def _header(run: RunFolder) -> str:
    d, m = run.data, run.metric
    test = (run.summary.get("test") or {}).get(m)
    valid = (run.summary.get("valid") or {}).get(m)
    parts = []
    if isinstance(test, int | float):
        parts.append(f"test {m} <b>{test:.4f}</b>")
    if isinstance(valid, int | float):
        parts.append(f"valid {m} <b>{valid:.4f}</b>")
    cfg = run.config.get("config") or {}
    sub = " · ".join(
        esc(x)
        for x in (
            f"run {display_name(run.path)}",
            d.get("modality"),
            (run.task.get("name")),
            f"model {cfg.get('model') or 'default'}",
        )
        if x
    )
    return (
        f"<h1>nnrecipe report · {esc(d.get('name') or cfg.get('data') or run.path.name)}</h1>"
        f"<div class='sub'>{sub}</div><div class='headline'>{' · '.join(parts)}</div>"
    )


def _guarded(name: str, fn: Any) -> str:
    """A section's HTML; a section that fails (a stage file in a shape this version does not
    know) says so instead of taking the whole page down."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the rest of the report is still worth showing
        return f"<p class='missing'>This section could not be drawn ({esc(type(e).__name__)}: {esc(e)}).</p>"


def build_html(run_dir: str | Path) -> str:
    """The report of a run folder as one self-contained HTML string."""

    run = RunFolder.load(run_dir)
    extra = _monitor_plots(run)
    builders = {
        "findings": lambda: top.findings(run),
        "data": lambda: s1.data_section(run),
        "baselines": lambda: s1.baselines_section(run),
        "training": lambda: s1.training_section(run, extra),
        "transfer": lambda: transfer.transfer_section(run),
        "model": lambda: s2.model_section(run, extra),
        "results": lambda: s2.results_section(run),
        "diagnosis": lambda: diagnosis.diagnosis_section(run, extra),
        "reproducibility": lambda: s2.reproducibility_section(run),
    }
    bodies = {name: _guarded(name, fn) for name, fn in builders.items()}
    strip = _guarded("verdict", lambda: top.verdict_strip(run))
    damaged = "".join(
        f"<p class='missing'>{badge('warning')} {esc(msg)}</p>" for msg in run.damaged.values()
    )
    body = (
        f"<section id='summary'><h2><span class='num'>1</span>Verdict</h2>{damaged}{strip}</section>"
        + "".join(section(a, i + 2, t, bodies[a]) for i, (a, t) in enumerate(SECTIONS))
    )
    nav = [("summary", "Verdict"), *SECTIONS]
    title = f"nnrecipe report: {run.data.get('name') or display_name(run.path)}"
    header = _guarded("header", lambda: _header(run))
    return document(title=title, header=header, nav=nav, body=body)


def write_report(run_dir: str | Path) -> Path:

    path = Path(run_dir) / "report.html"
    atomic_write_text(path, build_html(run_dir))  # mode io.FILE_MODE, like every run file
    return path


def open_in_browser(path: Path) -> bool:
    """Open `path` in the user's browser; False (and a line saying where the page is) when
    this machine has no browser to open it with."""
    import webbrowser

    try:
        opened = webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        print(f"no browser found to open the report: open {path.resolve()} yourself", flush=True)
    return bool(opened)
