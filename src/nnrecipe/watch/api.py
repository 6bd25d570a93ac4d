"""`nr.watch(model)`: watch the user's own training loop and report its silent bugs."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from nnrecipe.errors import ConfigError, ModelError
from nnrecipe.findings import Finding, Result
from nnrecipe.watch import gradients, modes, schedule
from nnrecipe.watch.page import write_watch_report
from nnrecipe.watch.recorder import DEFAULT_EVERY, Recorder
from nnrecipe.watch.timeline import evaluation_phases, steps_per_epoch, train_loader_starts

# One function per finding code, in report order.
CHECKS: tuple[Callable[[Recorder], list[Finding]], ...] = (
    gradients.non_finite,
    gradients.missing_zero_grad,
    gradients.zero_grad_in_accumulation,
    modes.train_in_eval_mode,
    modes.eval_without_eval_mode,
    modes.augmented_validation,
    schedule.scheduler_before_optimizer,
    schedule.lr_collapse,
    gradients.params_not_updated,
    gradients.exploding_gradients,
)


class Watcher:
    """The context manager `nr.watch` returns; ``result`` and ``report`` after the block."""

    def __init__(
        self, model: nn.Module, *, optimizers: list[Any], every: int, stage: str = "watch"
    ) -> None:
        self.model = model
        self.optimizers = optimizers
        self.every = every
        self.stage = stage
        self.recorder: Recorder | None = None
        self._result: Result | None = None
        self._t0 = 0.0

    def __enter__(self) -> Watcher:
        if self.recorder is not None:
            raise ConfigError("This watcher was already used: call nr.watch(model) again.")
        self.recorder = Recorder(self.model, optimizers=self.optimizers, every=self.every)
        self._t0 = time.perf_counter()
        self.recorder.attach()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        rec = self.recorder
        assert rec is not None
        rec.detach()  # first of all: the hooks must go even if the analysis fails
        if exc_type is not None:
            rec.exception = f"{exc_type.__name__}: {exc}"
        seconds = time.perf_counter() - self._t0
        try:
            self._result = analyse(rec, stage=self.stage, seconds=seconds)
        except Exception as e:  # noqa: BLE001 - never mask the loop's own exception
            if exc_type is None:
                raise
            self._result = Result(stage=self.stage, stats={"analysis_error": repr(e)})
        # Returning None lets the loop's exception propagate unchanged.

    @property
    def result(self) -> Result:
        """The findings (an `nr.Result`); available once the block has ended."""
        if self._result is None:
            raise ConfigError(
                "The watcher's result is ready only after the `with nr.watch(model) as w:` block "
                "has ended; read w.result after the block."
            )
        return self._result

    def report(self, path: str | Path) -> Path:
        """Write ``report.html`` (and ``watch.json``) for the watched loop into folder `path`;
        returns the page's path."""
        return write_watch_report(self.result, path)


def watched(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a trainer's ``fit(self, ...)`` so that its loop runs inside `nr.watch`: the
    findings land in ``self.watch_result`` (also when fit raises). nnrecipe's `Learner` uses it,
    so its loop and a user's loop are checked by the same code."""

    @functools.wraps(fit)
    def run(trainer: Any, *args: Any, **kwargs: Any) -> Any:
        watcher = watch(trainer.model)
        try:
            with watcher:
                return fit(trainer, *args, **kwargs)
        finally:
            trainer.watch_result = watcher._result

    return run


def analyse(rec: Recorder, *, stage: str = "watch", seconds: float = 0.0) -> Result:
    """Run every watch check on a finished recording."""
    rec.finish()
    result = Result(stage=stage)
    for check in CHECKS:
        result.extend(check(rec))
    result.stats = stats(rec, seconds)
    return result


def stats(rec: Recorder, seconds: float) -> dict[str, Any]:
    """What the loop showed, for the report: counts, curves, optimizers, schedulers."""
    opts = [o for o in rec.opts.values() if o is not None]
    return {
        "seconds": seconds,
        "steps": rec.steps,
        "backward_passes": rec.backwards,
        "forward_passes": rec.passes,
        "epochs": len(train_loader_starts(rec)) or None,
        "steps_per_epoch": steps_per_epoch(rec),
        "evaluation_phases": len(evaluation_phases(rec)),
        "every": rec.every,
        "optimizers": [
            {"index": o.index, "class": o.name, "steps": o.steps, "lr": o.lrs[:2000]} for o in opts
        ],
        "schedulers": sorted({name for name, _ in rec.scheduler_calls}),
        "loss": rec.losses,
        "grad_norm": rec.grad_norms,
        "dropout_batchnorm_modules": len(rec.stoch),
        "exception": rec.exception,
        "watch_failure": rec.failure,
    }


def watch(
    model: nn.Module,
    *,
    optimizer: Any = None,
    scheduler: Any = None,
    every: int | None = None,
) -> Watcher:
    """Watch the user's own training loop and find its silent bugs.

    Use as ``with nr.watch(model) as w: <your loop, unchanged>``; then ``w.result`` is an
    `nr.Result` and ``w.report(folder)`` writes an HTML page. Optimizers and learning-rate
    schedulers are found by themselves when they step inside the block. Watching only reads:
    the loop ends with the same weights as without it (bit-identical on CPU), and every hook is
    removed when the block ends, also when it raises (the exception propagates unchanged).

    Findings: ``missing-zero-grad``, ``zero-grad-in-accumulation``, ``eval-without-eval-mode``,
    ``train-in-eval-mode``, ``scheduler-before-optimizer``, ``lr-collapse``,
    ``augmented-validation``, ``non-finite``, ``params-not-updated``, ``exploding-gradients``
    (``nnrecipe explain CODE``).

    Args:
        model: the `nn.Module` the loop trains.
        optimizer: optional; an optimizer (or a list of them) the loop steps.
        scheduler: optional; accepted for symmetry, schedulers are found when they step.
        every: measure gradient norms and the loss (and read whether gradients were cleared)
            at one optimizer step in `every` after the first 20 (default 25; see
            bench/watch.py for the cost).

    Returns:
        A `Watcher` (context manager) with ``.result`` and ``.report(path)``.

    Raises:
        ModelError: `model` is not an ``nn.Module``.
        ConfigError: `every` is not a positive integer.

    Example:
        >>> import torch, nnrecipe as nr
        >>> model = torch.nn.Linear(4, 2)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> with nr.watch(model) as w:
        ...     for _ in range(10):
        ...         loss = torch.nn.functional.cross_entropy(model(x), y)
        ...         loss.backward()          # zero_grad() forgotten
        ...         opt.step()
        >>> "missing-zero-grad" in w.result.codes
        True
    """
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"nr.watch needs the torch.nn.Module the loop trains, got {type(model).__name__}."
        )
    if every is None:
        every = DEFAULT_EVERY
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(
            f"every must be a positive integer (steps between measurements), got {every!r}."
        )
    opts = (
        []
        if optimizer is None
        else list(optimizer)
        if isinstance(optimizer, list | tuple)
        else [optimizer]
    )
    del scheduler  # found by itself when it steps; the keyword documents the loop's intent
    return Watcher(model, optimizers=opts, every=every)
