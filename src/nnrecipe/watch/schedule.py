"""Watch checks on learning-rate schedules: `scheduler-before-optimizer`, `lr-collapse`."""

from __future__ import annotations

from nnrecipe.findings import Finding
from nnrecipe.watch.codes import finding
from nnrecipe.watch.recorder import Recorder
from nnrecipe.watch.records import OptRecord
from nnrecipe.watch.timeline import at, steps_per_epoch, where

# lr-collapse: the rate below COLLAPSE x its peak so far, reached within the first epoch (the
# first quarter of the steps when the loop shows no epochs) and held for at least HELD of all
# steps. Measured on the loop zoo: StepLR / ExponentialLR sized in epochs and stepped per batch
# collapse at step 10-14 of a 16-step first epoch and stay collapsed for 0.73-0.81 of the steps;
# one-cycle and warm-up + cosine sized in steps reach 1/100 of their peak only at step 31-46 of
# 32-48, for 0.03-0.06 of the steps; StepLR(gamma 0.1) stepped per epoch never within epoch 1.
COLLAPSE = 1e-2
HELD = 0.5


def scheduler_before_optimizer(rec: Recorder) -> list[Finding]:
    """A scheduler stepped while its optimizer has not stepped yet (nor a GradScaler for it)."""
    early = rec.early_schedulers
    if not early:
        return []
    s = early[0]
    return [
        finding(
            "scheduler-before-optimizer",
            "warning",
            f"{s['scheduler']} was stepped {len(early)} time(s) before optimizer {s['optimizer']} "
            f"took its first step (learning rate {s['lr_before']:.3g} -> {s['lr_after']:.3g}): the "
            "schedule's first value is skipped.",
            {
                "scheduler": s["scheduler"],
                "optimizer": s["optimizer"],
                "calls_before_first_step": len(early),
                "lr_before": s["lr_before"],
                "lr_after": s["lr_after"],
            },
        )
    ]


def _collapse(o: OptRecord, total: int) -> tuple[int, float, float, int] | None:
    """(first collapsed step, peak lr, lowest lr, collapsed steps) of one optimizer."""
    peak, start, low, held = 0.0, None, float("inf"), 0
    points = o.lrs + [(total + 1, o.lrs[-1][1])] if o.lrs else []
    for (s, lr), (nxt, _) in zip(points, points[1:], strict=False):
        if start is None:
            peak = max(peak, lr)
        if peak > 0 and lr < COLLAPSE * peak:
            start = s if start is None else start
            held += nxt - s
            low = min(low, lr)
    return None if start is None else (start, peak, low, held)


def lr_collapse(rec: Recorder) -> list[Finding]:
    """The learning rate falling below 1/100 of its peak in the first epoch and staying there."""
    found = []
    per_epoch = steps_per_epoch(rec)
    for o in rec.opts.values():
        if o is None or o.steps < 8:
            continue
        c = _collapse(o, o.steps)
        if c is None:
            continue
        start, peak, low, held = c
        limit = per_epoch if per_epoch else o.steps / 4
        if start > limit or held < HELD * o.steps:
            continue
        calls = {name: n for (name, i), n in rec.scheduler_calls.items() if i == o.index}
        scheds = sorted(calls)
        found.append(
            finding(
                "lr-collapse",
                "error",
                f"The learning rate of {o.name} (optimizer {o.index}) fell from {peak:.3g} to "
                f"{low:.3g} by {at(rec, o.first_global_step + start)}"
                + (f", within the first epoch of {per_epoch} steps" if per_epoch else "")
                + f", and stayed below 1/100 of its peak for {held} of {o.steps} steps"
                + (f" ({', '.join(scheds)} stepped {sum(calls.values())} times)" if scheds else "")
                + ".",
                {
                    "optimizer": o.index,
                    "peak_lr": peak,
                    "lowest_lr": low,
                    "collapsed_at": where(rec, o.first_global_step + start),
                    "steps_collapsed": held,
                    "steps": o.steps,
                    "steps_per_epoch": per_epoch,
                    "schedulers": scheds,
                },
            )
        )
    return found
