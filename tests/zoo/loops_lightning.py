"""Lightning modules for the loop zoo (planted bugs and healthy fits); needs ``lightning``.

``model()`` builds the LightningModule, ``train(module)`` runs ``Trainer.fit`` on the digits
(DataLoaders with torchvision transforms), so `loops.run` watches them like any loop.
"""

from __future__ import annotations

import logging
import warnings

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from zoo.loops import CNN, Loop, loaders

for _name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class Classifier(pl.LightningModule):
    """A plain Lightning classifier: Adam, validation every epoch, calls ``self(x)``."""

    def __init__(self, *, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = CNN(dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> object:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class StepPerEpochLR(Classifier):
    """Healthy: a StepLR sized in epochs, stepped per epoch (Lightning's default interval)."""

    def configure_optimizers(self) -> object:
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)}


class StepPerBatchLR(Classifier):
    """Planted: a StepLR sized in epochs with ``interval: step``."""

    def configure_optimizers(self) -> object:
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class FreezesBatchNorm(Classifier):
    """Planted: 'freezes' BatchNorm with eval() each epoch while its weights still train; calls
    ``self.net`` directly (the watcher follows the children)."""

    def on_train_epoch_start(self) -> None:
        self.net.eval()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)


class ManualNoZeroGrad(Classifier):
    """Planted: manual optimization without ``opt.zero_grad()``."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        opt = self.optimizers()
        x, y = batch
        self.manual_backward(F.cross_entropy(self(x), y))
        opt.step()


class ManualAccumulationZeroGrad(ManualNoZeroGrad):
    """Planted: manual accumulation over 2 batches, clearing before every backward."""

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        opt = self.optimizers()
        x, y = batch
        opt.zero_grad()
        self.manual_backward(F.cross_entropy(self(x), y) / 2)
        if i % 2 == 1:
            opt.step()


class TrainModeValidation(Classifier):
    """Planted: switches back to train mode for validation (a copy-pasted MC-dropout idea)."""

    def on_validation_epoch_start(self) -> None:
        self.train()


class ManualSchedulerFirst(ManualNoZeroGrad):
    """Planted: manual optimization stepping its scheduler before the optimizer."""

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        opt, sched = self.optimizers(), self.lr_schedulers()
        x, y = batch
        opt.zero_grad()
        self.manual_backward(F.cross_entropy(self(x), y))
        sched.step()
        opt.step()

    def configure_optimizers(self) -> object:
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        return [opt], [torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=60)]


def fit(module: pl.LightningModule, *, leak_transforms: bool = False, **options: object) -> None:
    train, valid = loaders(leak_transforms=leak_transforms)
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=2,
        **options,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers and log intervals
        trainer.fit(module, train, valid)


def _leaky(module: nn.Module) -> None:
    fit(module, leak_transforms=True)


def _accumulate(module: nn.Module) -> None:
    fit(module, accumulate_grad_batches=2)


BUGS = [
    Loop("lit-manual-no-zero-grad", "lightning", "missing-zero-grad", ManualNoZeroGrad, fit),
    Loop(
        "lit-manual-accumulation-zero-grad",
        "lightning",
        "zero-grad-in-accumulation",
        ManualAccumulationZeroGrad,
        fit,
    ),
    Loop("lit-freezes-batchnorm", "lightning", "train-in-eval-mode", FreezesBatchNorm, fit),
    Loop(
        "lit-train-mode-validation",
        "lightning",
        "eval-without-eval-mode",
        TrainModeValidation,
        fit,
    ),
    Loop(
        "lit-manual-scheduler-first",
        "lightning",
        "scheduler-before-optimizer",
        ManualSchedulerFirst,
        fit,
    ),
    Loop("lit-step-lr-per-batch", "lightning", "lr-collapse", StepPerBatchLR, fit),
    Loop("lit-transforms-before-split", "lightning", "augmented-validation", Classifier, _leaky),
]

HEALTHY = [
    Loop("lit-classifier-step-lr-per-epoch", "lightning", None, StepPerEpochLR, fit),
    Loop("lit-accumulate-grad-batches", "lightning", None, Classifier, _accumulate),
]
