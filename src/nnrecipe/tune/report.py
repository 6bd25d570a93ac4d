"""``report.html`` of a tune folder: the result and how to continue, every trial, the
parameter importances (with a caveat when there are few trials), and the noise of the
validation score. Built from the folder alone (``tune.json``, ``config.json``), so
``nnrecipe report TUNE`` rebuilds it; self-contained, every value escaped by `nnrecipe.html`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError, NnrecipeError
from nnrecipe.html import (
    absent,
    bars,
    document,
    esc,
    figure,
    fmt,
    kv_table,
    note,
    png_img,
    section,
    table,
)
from nnrecipe.io import atomic_write_text, read_json

# Importances from fewer complete trials than this are shown with a warning. Measured with
# bench/tune_importance.py: a synthetic search over the MLP space in which lr carries ~80% of
# the importance (400-trial reference), random sampler, 10 seeds per size. Trial-to-trial noise
# as on digits (sd 0.0023 for re-seeded trainings of the best settings vs a spread of ~0.01
# between trials, `--noise 0.003`): with 5 / 10 / 15 / 20 / 30 / 60 trials lr is ranked first in
# 5 / 6 / 8 / 10 / 10 / 10 of 10 studies, and the importances are 0.53 / 0.41 / 0.25 / 0.21 /
# 0.13 / 0.09 (total variation) from the reference. Noisier (`--noise 0.01`): 6 / 5 / 7 / 8 /
# 9 / 8 of 10. fANOVA fits a random forest to (settings, error) pairs; under ~20 points it
# mostly fits the noise, so the ranking is close to a coin toss.
FEW_TRIALS = 20


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v, 3)}" for k, v in params.items())


def _result_section(tune: dict[str, Any], folder: Path) -> str:
    final = tune["final"]
    rows: list[tuple[str, Any]] = [
        ("best trial", final["trial"]),
        ("its valid error", tune.get("best_value")),
        (
            "settings",
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in final["params"].items()
            ),
        ),
        (
            "model.safetensors",
            "the best trial's own model (retraining it with its seed gives the same weights)"
            if final["kept"]
            else "trained again from the best trial's settings and seed (its file was missing)",
        ),
    ]
    for split, metrics in final["scores"].items():
        rows.append((f"{split} scores", ", ".join(f"{k} {fmt(v)}" for k, v in metrics.items())))
    cont = (
        "<h3>Continue</h3>"
        "<p>A full run (audit, baselines, checks, training on the best settings, the test set "
        "once, the report), reusing this study instead of searching again:</p>"
        f"<pre>{esc(final['next'])}</pre>"
        f"<p>Predict with the model of this folder: <code>nnrecipe predict {esc(folder)} "
        "INPUTS</code> or <code>nr.load(folder).predict(inputs)</code>. The test split was "
        "never looked at.</p>"
    )
    return kv_table(rows) + cont


def _trials_section(tune: dict[str, Any]) -> str:
    from nnrecipe import plotting

    trials = sorted(tune["trials"], key=lambda t: t["number"])
    rows = [
        (
            t["number"],
            t["state"] + ("" if t.get("feasible", True) else " (infeasible)"),
            t["value"],
            t.get("epochs_run"),
            t.get("seconds"),
            _params(t.get("params") or {}),
        )
        for t in trials
    ]
    counts = ", ".join(f"{v} {k}" for k, v in (tune.get("counts") or {}).items())
    parts = [note(f"{len(trials)} trials: {counts}; the best is trial {tune.get('best_trial')}.")]
    with tempfile.TemporaryDirectory() as tmp:
        png = plotting.tuning_history(trials, Path(tmp) / "tuning.png").read_bytes()
    parts.append(figure(png_img(png, alt="tuning history"), "Validation error per trial."))
    parts.append(
        table(["#", "state", "valid error", "epochs", "seconds", "params"], rows, cls="trials")
    )
    return "".join(parts)


def _importance_section(tune: dict[str, Any]) -> str:
    imp = tune.get("importance") or {}
    complete = (tune.get("counts") or {}).get("complete", 0)
    if not imp:
        return absent(
            "No importances",
            f"(fANOVA needs at least 4 complete trials with two or more knobs; {complete} complete).",
        )
    parts = []
    if complete < FEW_TRIALS:
        parts.append(
            note(
                f"Only {complete} complete trials: importances are unreliable under {FEW_TRIALS} "
                "(in bench/tune_importance.py, with 5-15 trials the most important knob was "
                "ranked first in only 5-8 of 10 studies; with 20 or more in 10 of 10 when the "
                "noise is as low as on digits). Treat them as a hint, not a measurement.",
                cls="warn",
            )
        )
    parts.append(
        bars(list(imp), {"importance": [float(v) for v in imp.values()]}, fmt_value="{:.3f}")
    )
    parts.append(
        note(
            "Optuna's fANOVA importances (optuna.importance.get_param_importances): the share of "
            "the variance of the validation error across trials that each knob explains. They "
            "say which knob mattered within the ranges searched, not which value is best."
        )
    )
    return "".join(parts)


def _noise_section(final: dict[str, Any]) -> str:
    n = final["noise"]
    errors = n.get("reseeded_errors") or []
    if not errors:
        return absent(
            "The noise was not measured",
            "(run `nnrecipe tune` again with --repeats 3: the finished trials are kept).",
        )
    rows = [("best trial (its own seed)", n["best_trial_error"])]
    rows += [(f"seed {s}", e) for s, e in zip(n["seeds"], errors, strict=True)]
    facts = [
        ("sd over the re-seeded trainings", n.get("sd")),
        ("re-seeded mean", n.get("reseeded_mean")),
        ("trials within 2 sd of the best", n.get("close_trials")),
    ]
    if n.get("sampling_se") is not None:
        facts.append((f"sampling SE on {n['n_valid']} valid samples", n["sampling_se"]))
    text = (
        "The best settings were trained again with other seeds; the only difference between "
        "these trainings is the random initialisation and shuffling. Their spread (sd; the best "
        "trial is left out, it was picked for its low score) is the noise of a trial's "
        "validation error: trials within 2 sd of the best are not told "
        "apart by this search. The best trial's error is the lowest of many noisy scores, so it "
        "is optimistic; the re-seeded mean is what the same settings give on average."
    )
    if n.get("sampling_se") is not None:
        text += (
            " The sampling SE, sqrt(e(1-e)/n), is another noise: how much a different validation "
            "set of the same size would move the error (the test set measures that once)."
        )
    return table(["training", "valid error"], rows) + kv_table(facts) + note(text)


def _findings_section(tune: dict[str, Any]) -> str:
    findings = tune.get("findings") or []
    if not findings:
        return note("No findings about the search.")
    rows = [(f.get("code"), f.get("severity"), f.get("message"), f.get("fix")) for f in findings]
    return table(["code", "severity", "message", "fix"], rows)


def write_report(folder: str | Path) -> Path:
    """Write ``folder/report.html`` of a tune folder whose search was handed off (its
    ``tune.json`` has a ``final`` record); returns its path."""
    folder = Path(folder)
    tune = read_json(folder / "tune.json", what="tune record")
    if not isinstance(tune.get("final"), dict) or not isinstance(tune.get("trials"), list):
        raise ConfigError(
            f"{str(folder / 'tune.json')!r} records no finished hand-off: run `nnrecipe tune` "
            "with the same --out to finish it."
        )
    config = folder / "config.json"
    data_name = (
        (read_json(config, what="run config").get("data") or {}).get("name", "")
        if config.is_file()
        else ""
    )
    parts = [
        ("result", "Result", _result_section(tune, folder)),
        ("trials", "Trials", _trials_section(tune)),
        ("importance", "Parameter importances", _importance_section(tune)),
        ("noise", "Noise of the validation score", _noise_section(tune["final"])),
        ("findings", "Findings", _findings_section(tune)),
    ]
    body = "".join(section(a, i + 1, t, b) for i, (a, t, b) in enumerate(parts))
    header = f"<h1>nnrecipe tune · {esc(data_name)}</h1><p>{esc(folder)}</p>"
    page = document(
        title=f"tune {data_name}", header=header, nav=[(a, t) for a, t, _ in parts], body=body
    )
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path


def is_tune_folder(folder: str | Path) -> bool:
    """A folder written by `nnrecipe tune` (not a run folder)."""
    path = Path(folder) / "config.json"
    try:
        return path.is_file() and read_json(path, what="run config").get("kind") == "tune"
    except NnrecipeError:
        return False
