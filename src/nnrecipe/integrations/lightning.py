"""A Lightning callback: ``Trainer(callbacks=[Watch()])`` watches the fit with `nr.watch`.

    from nnrecipe.integrations.lightning import Watch
    trainer = lightning.Trainer(max_epochs=5, callbacks=[Watch(check=True)])
    trainer.fit(module, train_loader, valid_loader)

Optionally runs `nr.check` on the first training batches before the fit, watches the whole fit
(sanity check, training, validation), then writes the findings to the Lightning log (one warning
per finding at warning or worse, and ``nnrecipe/errors`` / ``nnrecipe/warnings`` to the logger)
and a report folder (``report.html``, ``watch.json``) under the trainer's log directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_warn

from nnrecipe.findings import Result
from nnrecipe.watch import Watcher, watch

log = logging.getLogger(__name__)
# nr.check reads the first training batches up to this many samples (half to train its probes,
# half held out): on one batch of 32 the input-ignored probe has 16 held-out samples and errs.
CHECK_SAMPLES = 256


class Watch(pl.Callback):
    """Watch a Lightning fit for the silent bugs of its loop.

    Args:
        check: run ``nr.check(module, batches, loss=loss)`` before the fit on the first
            training batches (up to 256 samples; batches must be ``(inputs, targets)``; the
            check works on copies).
        loss: the loss for the check (default: the task's, inferred from the targets).
        report: the report folder; ``"auto"`` (default) is ``<log_dir>/nnrecipe``, None writes
            none.
        every: passed to `nr.watch`.

    After the fit: ``result`` (the watch `Result`), ``check_result`` (or None) and
    ``report_path`` (or None).
    """

    def __init__(
        self,
        *,
        check: bool = False,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        report: str | Path | None = "auto",
        every: int | None = None,
    ) -> None:
        self.check = check
        self.loss = loss
        self.report = report
        self.every = every
        self.result: Result | None = None
        self.check_result: Result | None = None
        self.report_path: Path | None = None
        self._watcher: Watcher | None = None

    # -- events -------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.check:
            self.check_result = self._first_batch_check(trainer, pl_module)
        self._watcher = watch(pl_module, every=self.every)
        self._watcher.__enter__()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, None)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._finish(trainer, exception)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._watcher is not None and self._watcher.recorder is not None:
            self._watcher.recorder.detach()  # never leave hooks behind

    # -- work ---------------------------------------------------------------------------------
    def _finish(self, trainer: pl.Trainer, exception: BaseException | None) -> None:
        w, self._watcher = self._watcher, None
        if w is None:
            return
        w.__exit__(type(exception) if exception else None, exception, None)
        self.result = w.result
        loud = self.result.at_least("warning")
        if self.check_result is not None:
            loud += self.check_result.at_least("warning")
        for f in loud:
            rank_zero_warn(f"nnrecipe {f.severity} {f.code}: {f.message} Fix: {f.fix}")
        if trainer.logger is not None:
            counts = {
                f"nnrecipe/{s}s": float(sum(f.severity == s for f in loud))
                for s in ("error", "warning")
            }
            try:
                trainer.logger.log_metrics(counts, step=trainer.global_step)
            except Exception as e:  # noqa: BLE001 - a logger refusing metrics must not fail the fit
                log.warning("nnrecipe: the logger did not take the finding counts (%s)", e)
        folder = self._folder(trainer)
        if folder is not None and trainer.is_global_zero:
            from nnrecipe.watch.page import write_watch_report

            title = f"Lightning fit of {type(trainer.lightning_module).__name__}"
            self.report_path = write_watch_report(
                self.result, folder, checks=self.check_result, title=title
            )
            log.info("nnrecipe: report written to %s", self.report_path)

    def _folder(self, trainer: pl.Trainer) -> Path | None:
        if self.report is None:
            return None
        if self.report != "auto":
            return Path(self.report)
        return Path(trainer.log_dir or trainer.default_root_dir) / "nnrecipe"

    def _first_batch_check(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Result:
        import nnrecipe as nr

        # Reading a batch draws from the global RNG (shuffling): fork it, the fit is unchanged.
        with torch.random.fork_rng(devices=[]):
            try:
                xb, yb = _first_batch(trainer, pl_module)
            except Exception as e:  # noqa: BLE001
                rank_zero_warn(
                    f"nnrecipe: nr.check skipped, the first training batch is not (inputs, "
                    f"targets) tensors ({type(e).__name__}: {e})."
                )
                return Result(stage="checks", stats={"skipped": str(e)})
        half = max(1, len(xb) // 2)
        data = (xb[:half], yb[:half], xb[half:], yb[half:])
        was_training = pl_module.training
        try:
            return nr.check(pl_module, data, loss=self.loss)
        finally:
            pl_module.train(was_training)


def _first_batch(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[Any, Any]:
    source: Any = trainer.datamodule
    if source is None or not hasattr(source, "train_dataloader"):
        source = trainer.fit_loop._data_source  # dataloaders passed to fit() (no public access)
        loader = source.dataloader()
    else:
        loader = source.train_dataloader()
    xs, ys, seen = [], [], 0
    for batch in loader:  # the first batches, up to CHECK_SAMPLES samples
        xb, yb = batch[0], batch[1]
        if not (isinstance(xb, torch.Tensor) and isinstance(yb, torch.Tensor)):
            raise TypeError(f"got {type(xb).__name__} and {type(yb).__name__}")
        xs.append(xb)
        ys.append(yb)
        seen += len(xb)
        if seen >= CHECK_SAMPLES:
            break
    return torch.cat(xs), torch.cat(ys)
