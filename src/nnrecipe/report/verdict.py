"""The report's top: the verdict strip (one card per stage), the next step, and the findings
(sections 1 and 2)."""

from __future__ import annotations

from typing import Any

from nnrecipe.html import badge, esc, note
from nnrecipe.notebook import finding_html
from nnrecipe.report.folder import RunFolder

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
    base = run.result("baselines")
    if base is None:
        out.append(("baselines", "absent", "did not run"))
    else:
        parts = [f"{k} {v:.3g}" for k, v in base.valid(m).items()]
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
    train = run.result("train")
    summary = run.typed_summary
    if train is None:
        out.append(("training", "absent", "did not run"))
    else:
        valid = (summary.valid or {}).get(m)
        status = (
            "error"
            if "training-diverged" in codes
            else "warning"
            if "below-baseline" in codes
            else "pass"
        )
        head = f"{train.epochs_run} epochs, best {train.best_epoch}"
        if isinstance(valid, int | float):
            head += f" · valid {m} {valid:.4g}"
        out.append(("training", status, head))
    diag = run.result("diagnose")
    if diag is None:
        out.append(("diagnosis", "absent", "nnrecipe diagnose RUN adds it"))
    else:
        head = diag.stats.get("verdict")
        errors = diag.stats.get("errors") if isinstance(diag.stats.get("errors"), dict) else {}
        figures = [
            f"{k} {v:.3g}"
            for k, v in errors.items()
            if k in ("train", "valid") and isinstance(v, int | float)
        ]
        text = str(head or _findings_headline(run.findings_of("diagnose")))
        if figures:
            text += " · error " + ", ".join(figures)
        out.append(("diagnosis", _status(run.findings_of("diagnose")), text))
    tune = run.result("tune")
    if tune is None:
        out.append(("tuning", "absent", "add --tune N to search"))
    else:
        head = f"{tune.trials} trials"
        if tune.best_value is not None:
            head += f" · best valid error {tune.best_value:.4g}"
        ens = run.result("ensemble")
        if ens is not None and "valid" in ens.gain:
            head += f" · ensemble gain {ens.gain['valid']:+.4f}"
        out.append(("tuning", _status(run.findings_of("tune")), head))
    test = summary.test
    if isinstance(test, dict) and isinstance(test.get(m), int | float):
        n_eval = int(summary.test_evaluations or 1)
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
    diag = run.result("diagnose")
    text = diag.stats.get("next_step") if diag is not None else None
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
