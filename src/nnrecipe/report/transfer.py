"""The report's transfer-learning section: what was pretrained, which layer groups were frozen
in which phase, the learning rate per group, both phases' curves, the ``--lr auto`` choice and,
when measured (``transfer.json["scratch"]``), the gain over training from scratch.

Reads ``transfer.json`` (written by `Learner.fine_tune` / `fit_or_fine_tune`) from the run."""

from __future__ import annotations

import io
import json
from typing import Any

from nnrecipe.html import absent, figure, fmt, kv_table, note, png_img, table
from nnrecipe.report.folder import RunFolder


def load_record(run: RunFolder) -> dict[str, Any] | None:
    raw = run.file("transfer.json")
    if raw is None:
        return None
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def transfer_section(run: RunFolder) -> str:
    rec = load_record(run)
    if rec is None:
        return absent(
            "No transfer learning in this run.",
            "Use --model resnet18 --weights FILE, or --pretrained runs/NAME, to start from a "
            "pretrained body.",
        )
    parts = [kv_table(_summary(rec))]
    auto = rec.get("lr_auto")
    if isinstance(auto, dict) and auto.get("lr") is not None:
        parts.append(
            note(
                f"--lr auto chose {fmt(auto['lr'], 3)} ({auto.get('rule')}): {auto.get('why')}; "
                f"the range test's loss falls between {fmt((auto.get('falling') or [None])[0], 3)} "
                f"and {fmt((auto.get('falling') or [None, None])[1], 3)}.",
                "",
            )
        )
    phases = [p for p in rec.get("phases") or [] if isinstance(p, dict)]
    groups = rec.get("groups") or []
    if phases:
        header = ["phase", "epochs", "frozen groups", "frozen tensors", "best score"]
        header += [f"lr {g}" for g in groups] or ["lr per group"]
        rows = []
        for p in phases:
            frozen = ", ".join(str(i) for i in p.get("frozen_groups") or []) or "none"
            lrs = [fmt(v, 3) for v in p.get("lr") or []]
            rows.append(
                [
                    p.get("phase"),
                    p.get("epochs"),
                    frozen,
                    p.get("frozen_parameters"),
                    fmt(p.get("best_score")),
                ]
                + lrs  # fmt: skip
            )
        parts.append(table(header, rows))
        if groups:
            parts.append(
                note(
                    "Layer groups, earliest first: "
                    + "; ".join(f"{i}: {g}" for i, g in enumerate(groups))
                    + (
                        ". BatchNorm/LayerNorm of the frozen body kept training."
                        if rec.get("train_bn", True)
                        else ". BatchNorm of the frozen body kept its statistics."
                    )
                )
            )
        png = _curves(phases)
        if png:
            parts.append(figure(png_img(png, alt="fine-tune curves"), "both phases"))
    scratch = rec.get("scratch")
    if isinstance(scratch, dict):
        parts.append(
            kv_table(
                [
                    (f"from scratch ({scratch.get('metric', '')})", fmt(scratch.get("score"))),
                    ("fine-tuned", fmt(scratch.get("fine_tuned"))),
                    ("gain", fmt(scratch.get("gain"))),
                ]
            )
        )
    return "".join(parts)


def _summary(rec: dict[str, Any]) -> list[tuple[str, Any]]:
    pre = rec.get("preprocess") or {}
    rows: list[tuple[str, Any]] = [
        ("pretrained weights", rec.get("pretrained") or "none (random weights)"),
    ]
    if pre:
        rows += [
            ("architecture", pre.get("architecture")),
            ("gray to RGB in the model", pre.get("gray_to_rgb")),
            ("resize in the model", "×".join(map(str, pre.get("resize") or [])) or "no"),
            ("inputs expected", pre.get("expects")),
        ]
        if pre.get("transforms"):
            rows.append(("weights' transforms", pre["transforms"]))
    if rec.get("base_lr") is not None:
        rows.append(("base lr (head, frozen phase)", fmt(rec["base_lr"], 3)))
    return [(k, v) for k, v in rows if v is not None]


def _curves(phases: list[dict[str, Any]]) -> bytes | None:
    """Training and validation loss over both phases, the phase boundary marked."""
    xs, train, valid, bounds = [], [], [], []
    for p in phases:
        for r in p.get("history") or []:
            xs.append(len(xs) + 1)
            train.append(r.get("train_loss"))
            valid.append(r.get("valid_loss"))
        bounds.append(len(xs))
    if len(xs) < 2:
        return None
    from nnrecipe.plotting import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(xs, train, marker="o", ms=3, label="train loss")
    ax.plot(xs, valid, marker="o", ms=3, label="valid loss")
    for b in bounds[:-1]:
        ax.axvline(b + 0.5, color="k", ls="--", lw=1, label="unfreeze")
    ax.set(xlabel="epoch", ylabel="loss", title="Fine-tuning: frozen, then unfrozen")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
