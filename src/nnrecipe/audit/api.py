"""`nr.audit`: every data check, the input statistics, and the pictures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from nnrecipe.audit import pictures
from nnrecipe.audit.context import AuditContext
from nnrecipe.audit.duplicates import duplicates, near_groups, split_leakage
from nnrecipe.audit.inputs import (
    constant_feature,
    corrupt_sample,
    non_finite,
    outlier_scores,
    outliers,
)
from nnrecipe.audit.labels import class_imbalance, label_noise
from nnrecipe.audit.leak import code_shift, id_column, missing_target, target_leak
from nnrecipe.audit.masks import empty_masks, mask_interpolated, mask_misaligned, pixel_imbalance
from nnrecipe.audit.ratings import cold_start, duplicate_pair, rating_activity, rating_range
from nnrecipe.audit.shift import distribution_shift
from nnrecipe.audit.stats import input_stats
from nnrecipe.data import Data
from nnrecipe.findings import Finding, Result, code_applies


def _checks() -> tuple[Any, ...]:

    # Files that could not be read come first: a run stopped by the audit names them.
    return (
        corrupt_sample,
        non_finite,
        split_leakage,
        duplicates,
        label_noise,
        class_imbalance,
        outliers,
        constant_feature,
        distribution_shift,
        # Segmentation masks (Code.tasks: segmentation only).
        pixel_imbalance,
        empty_masks,
        mask_misaligned,
        mask_interpolated,
        target_leak,
        id_column,
        missing_target,
        code_shift,
        rating_range,
        cold_start,
        duplicate_pair,
        rating_activity,
    )


def audit(
    data: Any, *, task: str | None = None, seed: int = 0, out: str | Path | None = None
) -> Result:
    """Scan a data set for the problems that silently ruin training, before any model.

    Checks, one finding code each (``nnrecipe explain CODE``): ``duplicates``,
    ``split-leakage``, ``label-noise``, ``class-imbalance``, ``outliers``, ``corrupt-sample``,
    ``non-finite``, ``constant-feature``, ``distribution-shift``, ``target-leak``; for tables
    read from a CSV also ``id-column`` and ``missing-target``. Each finding's evidence names
    the samples per split: ``evidence["samples"]["indices"][split]`` are positions in the
    source (``Split.index``), with ``["files"][split]`` for image folders.

    Args:
        data: an `nr.Data` (every split it has is audited), or a tuple
            ``(x_train, y_train, x_valid, y_valid[, x_test, y_test])`` of arrays or tensors.
        task: ``"classification"`` or ``"regression"`` when `data` is a tuple (default: inferred).
        seed: seed of every subsample and cross-validation split (the audit is deterministic).
        out: folder for the pictures (samples per class, duplicate and leak groups, suspicious
            labels, outliers, table histograms); none are drawn without it.

    Returns:
        A `Result` (stage ``"audit"``) with the findings worst first, ``stats`` (sizes,
        per-channel statistics, class histogram or target summary, per-feature summary for
        tables, seconds per check) and ``artifacts`` (picture name -> path relative to `out`).

    Raises:
        DataError: `data` is neither an `nr.Data` nor a tuple of 4 or 6 arrays.

    Example:
        >>> import nnrecipe as nr
        >>> result = nr.audit(nr.datasets.load("digits"))
        >>> [f.code for f in result.at_least("warning")]
        []
    """

    start = time.perf_counter()
    data = Data.coerce(data, task=task)
    ctx = AuditContext.build(data, seed=seed)
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    not_applicable = []
    for check in _checks():
        if not code_applies(check.__name__.replace("_", "-"), data.task):
            not_applicable.append(check.__name__.replace("_", "-"))
            continue
        t = time.perf_counter()
        findings.extend(check(ctx))
        seconds[check.__name__] = round(time.perf_counter() - t, 3)
    stats = input_stats(ctx)
    stats.update(_measurements(ctx))
    artifacts: dict[str, str] = {}
    if out is not None:
        t = time.perf_counter()
        artifacts = write_pictures(ctx, findings, Path(out))
        seconds["pictures"] = round(time.perf_counter() - t, 3)
    seconds["total"] = round(time.perf_counter() - start, 3)
    stats["seconds"] = seconds
    stats["not_applicable"] = not_applicable  # codes that make no sense for this task
    findings.sort(key=lambda f: -f.severity.rank)  # stable: check order within a severity
    return Result(findings, stage="audit", stats=stats, artifacts=artifacts)


def _measurements(ctx: Any) -> dict[str, Any]:
    """What the checks measured, also when they found nothing (the person should see it)."""
    out: dict[str, Any] = {}
    if "groups" in ctx.cache:
        out["copy_groups"] = len(ctx.cache["groups"])
        out["copy_radius"] = round(float(ctx.cache["copy_radius"]), 5)
    for key in ("intrinsic_dimension", "outlier_dimension"):
        if key in ctx.cache and np.isfinite(ctx.cache[key]):
            out[key] = round(float(ctx.cache[key]), 2)
    scan = ctx.cache.get("labels")
    if scan:
        out["label_noise_estimate"] = round(scan["rate"], 4)
        out["cheap_model_accuracy"] = round(scan["accuracy"], 4)
    if "shift_auc" in ctx.cache:
        out["shift_auc"] = ctx.cache["shift_auc"]
    if "outlier_scores" in ctx.cache:
        out["outlier_ratio_max"] = {
            k: round(float(v.max()), 2) for k, v in ctx.cache["outlier_scores"].items()
        }
    return out


def write_pictures(ctx: Any, findings: list[Finding], out: Path) -> dict[str, str]:
    """Draw the pictures into `out`; returns picture name -> file name relative to `out`."""

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path | None] = {}
    if ctx.data.modality == "tabular":
        files["histograms"] = pictures.histograms(ctx, out / "histograms.png")
    else:
        files["samples"] = pictures.samples_per_class(ctx, out / "samples.png")
    from nnrecipe.findings import code_applies

    task = ctx.data.task
    # Pictures of codes that do not apply to the task are not drawn (nor their searches run).
    dup = code_applies("duplicates", task) or code_applies("split-leakage", task)
    groups = near_groups(ctx) if dup else []
    within = [[(s, p) for s, p, _ in g if s == split] for g in groups for split in ctx.splits]
    files["duplicates"] = pictures.groups(
        ctx,
        [g for g in within if len(g) >= 2],
        out / "duplicates.png",
        "Duplicates within a split (one group per row)",
    )
    across = [[(s, p) for s, p, _ in g] for g in groups if len({s for s, _, _ in g}) > 1]
    files["leakage"] = pictures.groups(
        ctx, across, out / "leakage.png", "Samples shared between splits (one group per row)"
    )
    suspects = next((f.evidence["suspects"] for f in findings if f.code == "label-noise"), [])
    files["label_issues"] = pictures.label_issues(ctx, suspects, out / "label_issues.png")
    if code_applies("outliers", task):
        files["outliers"] = pictures.outliers(ctx, outlier_scores(ctx), out / "outliers.png")
    return {k: str(p.relative_to(out)) for k, p in files.items() if p is not None}
