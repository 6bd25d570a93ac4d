"""Callbacks hook into a short, fixed list of events; no hidden control flow in the loop."""

from __future__ import annotations

from typing import Any, Protocol

from nnrecipe.progress import enabled, line

EVENTS = ("on_fit_start", "on_epoch_start", "on_epoch_end", "on_fit_end")


class Callback(Protocol):
    """Any object with some of the methods in `EVENTS`, each taking the `Learner`.

    `on_epoch_end` sees ``learner.history[-1]`` (this epoch's metrics); raising there stops
    training (Optuna's pruning raises ``optuna.TrialPruned``).
    """


class ProgressCallback:
    """A rich progress bar with the loss and metric per epoch; silent when not on a TTY."""

    def __init__(self, epochs: int, steps_per_epoch: int, metric: str) -> None:

        self.epochs, self.steps, self.metric = epochs, steps_per_epoch, metric
        self.active = enabled()
        self.bar: Any = None

    def on_fit_start(self, learner: Any) -> None:
        if not self.active:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            transient=False,
        )
        self.bar.start()
        done = len(learner.history)
        self.task = self.bar.add_task(
            "fit", total=self.epochs * self.steps, completed=done * self.steps, info=""
        )

    def on_batch_end(self, learner: Any, batch: int, loss: float) -> None:
        if self.bar is not None and batch % 5 == 0:
            self.bar.update(self.task, completed=learner.epoch * self.steps + batch + 1)

    def on_epoch_end(self, learner: Any) -> None:
        r = learner.history[-1]
        info = (
            f"epoch {r['epoch']}: train loss {r['train_loss']:.4f}  valid loss {r['valid_loss']:.4f}  "
            f"valid {self.metric} {r[f'valid_{self.metric}']:.4f}"
        )
        if self.bar is None:  # not a terminal (a log, CI): one line per epoch, flushed
            line(f"{info}  ({r['epoch']}/{self.epochs})")
            return
        self.bar.update(self.task, completed=r["epoch"] * self.steps, info=info)

    def shorten(self, epochs: int) -> None:
        """Training now ends after `epochs` epochs (a cooldown before early stopping)."""
        self.epochs = epochs
        if self.bar is not None:
            self.bar.update(self.task, total=epochs * self.steps)

    def on_fit_end(self, learner: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
