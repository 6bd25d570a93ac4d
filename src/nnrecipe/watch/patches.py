"""The wrappers `Recorder.attach` puts on `LRScheduler.step`, `GradScaler.step` and
`DataLoader.__iter__` for the block's duration; each always calls the original exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnrecipe.watch.records import is_initial_step, lr_of

if TYPE_CHECKING:
    from nnrecipe.watch.recorder import Recorder

_UNSEEN = object()


def scheduler_step(recorder: Recorder, original: Any) -> Any:
    """`LRScheduler.step` (and overrides) for the block: calls, and the early ones in detail."""

    def step(sched: Any, *args: Any, **kwargs: Any) -> Any:
        early: list[dict[str, Any]] = []
        # Not nested in another scheduler's step, nor the constructor's own step.
        if recorder._live and not recorder._in_sched and not is_initial_step(sched):
            try:
                _on_scheduler(recorder, sched, early)
            except Exception as e:  # noqa: BLE001 - see _fail
                recorder._fail(e)
        recorder._in_sched += 1
        try:
            return original(sched, *args, **kwargs)
        finally:
            recorder._in_sched -= 1
            for e in early:  # stepped before its optimizer's first step: the details
                e["lr_after"] = lr_of(sched)
                recorder.early_schedulers.append(e)

    return step


def _on_scheduler(recorder: Recorder, sched: Any, early: list[dict[str, Any]]) -> None:
    key = id(sched)
    rec = recorder._sched_opt.get(key, _UNSEEN)
    if rec is _UNSEEN:
        rec = recorder._opt(sched.optimizer) if hasattr(sched, "optimizer") else None
        recorder._sched_opt[key] = rec
        recorder._sched_keep.append(sched)  # keeps id(sched) unique for the block
    if rec is None:
        return
    recorder._sched_count[key] = recorder._sched_count.get(key, 0) + 1
    if not rec.steps and not rec.scaler_steps:
        early.append(
            {
                "scheduler": type(sched).__name__,
                "optimizer": rec.index,
                "lr_before": lr_of(sched),
            }
        )


def scaler_step(recorder: Recorder, original: Any) -> Any:
    """`GradScaler.step` for the block: a scaler step counts as its optimizer's step."""

    def step(scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        if recorder._live:
            try:
                _on_scaler(recorder, optimizer)
            except Exception as e:  # noqa: BLE001 - see _fail
                recorder._fail(e)
        return original(scaler, optimizer, *args, **kwargs)

    return step


def _on_scaler(recorder: Recorder, optimizer: Any) -> None:
    rec = recorder._opt(optimizer)
    if rec is not None:
        rec.scaler_steps += 1


def loader_iter(recorder: Recorder, original: Any) -> Any:
    """`DataLoader.__iter__` for the block: epoch starts."""

    def iterate(loader: Any) -> Any:
        recorder.loader_starts.append((id(loader), recorder.steps, recorder.backwards))
        return original(loader)

    return iterate
