"""`Learner`: trains a user's `nn.Module` on an `nr.Data` the disciplined way.

AdamW, a one-cycle (or warm-up + cosine) schedule, gradient clipping, early stopping on the
validation metric, best and last checkpoints, exact resume after a kill.

The step never waits for the device: the losses stay on it and are read (and checked for
NaN/Inf) every `CHECK_EVERY` steps and at the end of each epoch, before anything is saved. Under
``torchrun`` (``nnrecipe run --nproc N``) the model trains data-parallel, see
`nnrecipe.train.distributed`.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.data import Data
from nnrecipe.data.batch import batch_len, batch_to, call_model, describe_shape
from nnrecipe.data.core import as_tensor
from nnrecipe.errors import ConfigError, DataError, ModelError, TrainingError
from nnrecipe.io import atomic_write_text
from nnrecipe.notebook import learner_html
from nnrecipe.tasks import ALIASES, LossFn, Task, make_task, reconcile
from nnrecipe.threads import choose_threads, pick_device
from nnrecipe.train import checkpoint as ckpt
from nnrecipe.train import distributed, transfer
from nnrecipe.train.callbacks import Callback, ProgressCallback
from nnrecipe.train.device import place_split, to_channels_last, wants_channels_last
from nnrecipe.train.optim import OptimizerFactory, trainable
from nnrecipe.train.precision import autocast, check_precision, grad_scaler
from nnrecipe.train.schedule import (
    COOL_ABOVE,
    SCHEDULES,
    Cooldown,
    budget_cooldown,
    cooldown_epochs,
    lr_factor,
    warmup_steps,
)
from nnrecipe.train.step import Stepper
from nnrecipe.watch.api import watched  # the loop is checked by nr.watch, like a user's loop

# Small data sets: batch = 2**floor(log2(n / 16)), clamped to [16, 256].
MIN_BATCH, MAX_BATCH = 16, 256
# Steps between two reads of the losses from the device (each read is one host sync; a NaN/Inf
# loss stops training at the next read, at the latest at the end of the epoch).
CHECK_EVERY = 32


def auto_batch_size(n_train: int) -> int:
    """A batch size giving at least ~16 steps per epoch on small data, 256 at most."""
    b = 1 << max(0, (max(n_train, 1) // 16).bit_length() - 1)
    return max(MIN_BATCH, min(MAX_BATCH, b))


class Learner:
    """Train `model` on `data`.

    Args:
        model: any `torch.nn.Module` mapping a batch of inputs to outputs. Trained in place.
        data: an `nr.Data` (or a tuple ``(x_train, y_train, x_valid, y_valid)``).
        task: ``"classification"`` / ``"regression"``; default: the data's task.
        loss: a callable ``(output, target) -> scalar``; default: the task's (cross-entropy, MSE).
        metrics: extra metrics ``{name: fn(output, target) -> float}`` over whole splits, on top
            of the task's (accuracy, balanced accuracy, macro F1, NLL / RMSE, MAE, R²).
        optimizer: a factory ``params -> torch.optim.Optimizer``; default AdamW(lr, weight_decay).
        lr: peak learning rate of the schedule (ignored when `optimizer` sets its own);
            ``(lo, hi)``: discriminative rates over the layer groups, lo for the earliest, hi for
            the head (see `nnrecipe.train.transfer`); ``"auto"``: from the learning-rate range
            test of `nr.check` (a tenth of the rate at the loss minimum; ``lr_auto`` says why).
        weight_decay: AdamW's decoupled weight decay (not applied to biases and norm scales).
        batch_size: default from the training-set size (16..256).
        schedule: ``"auto"`` (warm-up, the peak until the valid metric stalls, then a
            cooldown and stop: `epochs` is a budget), ``"one-cycle"``, ``"warmup-cosine"`` or
            ``"constant"`` (see `nnrecipe.train.schedule`).
        clip: gradient-norm clipping threshold (None: no clipping).
        patience: epochs without improvement of the validation metric before stopping
            (None: never stop early); at a high rate a cooldown comes first.
        seed: seeds weight-independent randomness: shuffling, dropout, augmentation.
        device: default CUDA, then MPS, then CPU.
        threads: CPU threads; default measured per model and batch (see `nnrecipe.threads`).
        augment: a callable applied to each training batch of inputs; one with a true
            ``takes_targets`` attribute is called ``augment(x, y, generator)`` and returns both
            (segmentation: see `nnrecipe.tune.augment.TargetAugment`).
        callbacks: objects with any of the methods in `nnrecipe.train.callbacks.EVENTS`.
        out: folder for checkpoints and metrics.csv (None: keep everything in memory).
        quiet: no progress bar.
        splitter: ``fn(model) -> [params of group 0, ..., params of the head]`` for `freeze`,
            `fine_tune` and ``lr=(lo, hi)``; default the model's ``nnrecipe_groups`` (pretrained
            models), else the last linear layer is the head.
        class_weights: ``"balanced"`` weights the default loss by inverse class frequency
            (imbalanced classification; what the ``class-imbalance`` finding recommends).
        precision: ``"fp32"``, ``"bf16"`` (autocast, CPU and CUDA) or ``"fp16"`` (autocast and a
            GradScaler); weights and optimizer state stay fp32.
        compile: train through `torch.compile(model)`; the first step's time, compilation
            included, is in ``compile_seconds``.

    Under torchrun, `batch_size` is per process: the global batch is ``batch_size × world
    size``.

    Example:
        >>> import torch, nnrecipe as nr
        >>> data = nr.datasets.load("iris")
        >>> learner = nr.Learner(torch.nn.Linear(4, 3), data, quiet=True, threads=1)
        >>> _ = learner.fit(epochs=30)
        >>> learner.evaluate("valid")["accuracy"] > 0.8
        True
    """

    def __init__(
        self,
        model: nn.Module,
        data: Data | tuple,
        *,
        task: str | Task | None = None,
        loss: LossFn | None = None,
        metrics: dict[str, Callable[[Tensor, Tensor], float]] | None = None,
        optimizer: OptimizerFactory | None = None,
        lr: float | tuple[float, float] | str = 3e-3,
        weight_decay: float = 1e-2,
        batch_size: int | None = None,
        schedule: str = "one-cycle",
        clip: float | None = 1.0,
        patience: int | None = 10,
        seed: int = 0,
        device: str | torch.device | None = None,
        threads: int | None = None,
        augment: Callable[[Tensor], Tensor] | None = None,
        callbacks: Sequence[Callback] = (),
        out: str | Path | None = None,
        quiet: bool = False,
        splitter: Callable[[nn.Module], list[list[nn.Parameter]]] | None = None,
        class_weights: str | None = None,
        precision: str = "fp32",
        compile: bool = False,  # noqa: A002 - the torch.compile option, by its name
    ) -> None:
        self.model = model
        self.data = data
        self.task = task
        self.loss = loss
        self.metrics = dict(metrics or {})
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.schedule = schedule
        self.clip = clip
        self.patience = patience
        self.seed = seed
        self.device = device
        self.threads = threads
        self.augment = augment
        self.callbacks = list(callbacks)
        self.out = Path(out) if out is not None else None
        self.quiet = quiet
        self.splitter = splitter
        self._phase: str | None = None  # fine_tune's phase: its own checkpoint file
        self.class_weights = class_weights
        self.precision = precision
        self.compile = compile
        self.compile_seconds: float | None = None
        self.placement: str | None = None
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.stopped_early = False
        self.budget_ran_out = False
        self.cooldown: Cooldown | None = None
        self._stalled = 0
        self._warmup = 0
        self._ready = False

    # -- set-up ---------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Validate and resolve everything once, before the first batch."""
        if self._ready:
            return

        if not isinstance(self.model, nn.Module):
            raise ModelError(
                f"The model must be a torch.nn.Module, got {type(self.model).__name__}."
            )
        self.data = Data.coerce(
            self.data, task=self.task if isinstance(self.task, str) else None, loss=self.loss
        )
        y_train = self.data.train.targets()
        if isinstance(self.task, str):
            same = _lookup_name(self.task) == self.data.task.name
            self.task = (
                self.data.task
                if same
                else make_task(self.task, y_train, x_shape=self.data.input_shape, loss=self.loss)
            )
        elif self.task is None:
            self.task = reconcile(self.data.task, y_train, self.loss, x_shape=self.data.input_shape)
        if self.class_weights not in (None, "balanced"):
            raise ConfigError(
                f"class_weights must be 'balanced' or None, got {self.class_weights!r}."
            )
        if self.class_weights and self.loss is not None:
            raise ConfigError(
                "class_weights='balanced' weights the default loss: pass weights to your own "
                "loss instead, or drop one of the two."
            )
        self.loss_fn: LossFn = self.loss or (
            self.task.weighted_loss(y_train) if self.class_weights else self.task.default_loss()
        )
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"Unknown schedule {self.schedule!r}: use one of {', '.join(SCHEDULES)}."
            )
        self.lr, self.lr_auto = transfer.resolve_lr(
            self.lr,
            self.model,
            self.data,
            weight_decay=self.weight_decay,
            seed=self.seed,
            loss=self.loss,
        )
        transfer.check_lr(self.lr)
        if self.batch_size is None:
            n_examples = self.task.epoch_size(self.data.train)
            self.batch_size = self.task.default_batch_size(n_examples) or auto_batch_size(
                n_examples
            )
        elif isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(
                f"The batch size must be a whole number >= 1, got {self.batch_size!r}: pass an "
                "int, or None for the default."
            )
        if self.batch_size < 1:
            raise ConfigError(
                f"The batch size must be >= 1, got {self.batch_size}: pass a positive int, or "
                "None for the default."
            )
        check_precision(self.precision)
        self.device_ = pick_device(self.device)
        self.model.to(self.device_)
        self._channels_last = wants_channels_last(self.model, self.device_)
        if self._channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        params = trainable(self.model)
        if not params:
            raise ModelError("The model has no trainable parameters: nothing to train.")
        self.opt = transfer.make_optimizer(self)  # one group, or one per layer group
        for g in self.opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
        scaler = grad_scaler(self.precision, self.device_)
        self._stepper = Stepper(self.opt, params, clip=self.clip, scaler=scaler)
        self.world_ = distributed.world_size()
        # What the training step calls: the model, in DDP under torchrun, compiled on request.
        # Evaluation, checkpoints and callbacks use `self.model` itself.
        self._net: nn.Module = (
            distributed.wrap(self.model, self.device_) if self.world_ > 1 else self.model
        )
        if self.compile:
            self._net = torch.compile(self._net)  # type: ignore[assignment]
        self._train, self.placement = place_split(self.data.train, self.device_)
        self._ready = True

    def _choose_threads(self) -> int:

        if self.threads is not None:
            torch.set_num_threads(int(self.threads))
            return int(self.threads)
        if self.world_ > 1:
            # The processes of this machine share its cores; a fixed count keeps them alike.
            from nnrecipe.threads import cpu_count

            threads = max(1, cpu_count() // distributed.local_world_size())
            torch.set_num_threads(threads)
            return threads
        if self.device_.type != "cpu":
            return torch.get_num_threads()
        xb, yb = next(self.data.train.batches(self.batch_size))
        probe = copy.deepcopy(self.model).train()
        rng = torch.get_rng_state()

        def step() -> None:
            # Forward and backward on a copy: the real model and optimizer are untouched.
            probe.zero_grad(set_to_none=True)
            self.loss_fn(call_model(probe, xb), yb).backward()

        try:
            return choose_threads(step)
        except Exception:  # the user's model fails on a batch: fit() reports it properly
            torch.set_num_threads(1)
            return 1
        finally:
            torch.set_rng_state(rng)

    # -- the loop -------------------------------------------------------------------------------
    @watched  # findings of the loop in self.watch_result (a Result, also when fit raises)
    def fit(
        self, epochs: int = 20, *, resume: bool = False, reshard: bool = False
    ) -> list[dict[str, Any]]:
        """Train for up to `epochs` epochs; returns the per-epoch history.

        With ``resume=True`` and a checkpoint in `out`, training continues exactly where it
        stopped (bit-identical weights on CPU). A checkpoint written by another number of
        processes is refused unless ``reshard=True`` (training then continues on this number,
        not bit-identically). At the end the best checkpoint's weights (by the validation
        metric) are loaded into the model.

        Raises:
            TrainingError: the loss became NaN/Inf (the last good checkpoint is kept).
            ModelError: the model crashed on a batch or its output does not fit the targets.
        """
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}.")
        self._setup()
        data, task = self.data, self.task
        n_train = task.epoch_size(data.train)
        world, rank = self.world_, distributed.rank()
        batch = self.batch_size * world  # the global batch: one part per process
        if world > 1:
            drop_last = distributed.drop_last_for(n_train, batch, world)
        else:
            drop_last = n_train % self.batch_size == 1  # a batch of one breaks BatchNorm
        steps_per_epoch = max(1, n_train // batch if drop_last else -(-n_train // batch))
        total_steps = epochs * steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        auto = self.schedule == "auto"
        self._warmup = warmup_steps(epochs, steps_per_epoch) if auto else 0
        self._signature = {
            "epochs": epochs,
            "batch_size": self.batch_size,
            "schedule": self.schedule,
            "seed": self.seed,
            "n_train": n_train,
        }
        start_epoch = 0
        gen = torch.Generator().manual_seed(self.seed)
        self.resumed_from = None
        if resume and self._last_path() is not None and self._last_path().exists():
            start_epoch = self._restore(gen, reshard=reshard)
            self.resumed_from = start_epoch
        else:
            self.threads_used = self._choose_threads()
            # One stream per process for dropout and augmentation (rank 0's is the usual one).
            torch.manual_seed(self.seed + rank)
            random.seed(self.seed + rank)
            self.history, self.best_epoch, self.best_score, self._bad_epochs = [], None, None, 0
            self._stalled = 0
            self._best_loss = math.inf
            self._best_state = ckpt.model_state(self.model)
            # auto: the budget's own cooldown, replaced by an earlier one if the metric stalls
            self.cooldown = budget_cooldown(epochs, steps_per_epoch, self._warmup) if auto else None
        self.epochs = epochs
        self._emit("on_fit_start")
        progress = (
            None
            if self.quiet or rank != 0
            else ProgressCallback(epochs, steps_per_epoch, task.primary_metric)
        )
        if progress:
            progress.on_fit_start(self)
        step = start_epoch * steps_per_epoch
        for epoch in range(start_epoch, epochs):
            if self._should_stop(epoch * steps_per_epoch):
                break
            self.epoch = epoch
            self._emit("on_epoch_start")
            self.model.train()
            t0 = time.perf_counter()
            total_loss, seen = 0.0, 0
            losses: list[Tensor] = []  # this epoch's unread losses, on the device
            sizes: list[int] = []
            move = not self._on_device()
            for batch_i, (xb, yb, weight) in enumerate(self._batches(gen, drop_last, epoch)):
                # The schedule is a function of the step and the saved cooldown: exact resume.
                if self.schedule != "constant":
                    factor = lr_factor(
                        self.schedule,
                        step,
                        total_steps,
                        warmup=self._warmup,
                        cooldown=self.cooldown,
                    )
                    for g in self.opt.param_groups:
                        g["lr"] = g["initial_lr"] * factor
                if move:  # streamed, or in memory but not on the device
                    xb = batch_to(xb, self.device_, non_blocking=True)
                    yb = yb.to(self.device_, non_blocking=True)
                if self._channels_last:
                    xb = to_channels_last(xb)
                if getattr(self.augment, "takes_targets", False):
                    # Masks move with their images; the generator is checkpointed with the run.
                    xb, yb = self.augment(xb, yb, gen)  # type: ignore[misc, call-arg]
                elif self.augment is not None:
                    xb = self.augment(xb)
                t_step = time.perf_counter() if self.compile and step == 0 else None
                if self.precision == "fp32":
                    loss = self._forward_loss(xb, yb)
                else:
                    with autocast(self.precision, self.device_):
                        loss = self._forward_loss(xb, yb)
                # Backward, clipping (it bounds the damage of a rare huge gradient: bad batch,
                # high lr) and the update; a last, smaller global batch weighs each process's
                # loss by its share of the samples.
                self._stepper.step(loss if weight == 1.0 else loss * weight)
                if t_step is not None:
                    self.compile_seconds = time.perf_counter() - t_step
                losses.append(loss.detach())
                sizes.append(batch_len(xb))
                step += 1
                if len(losses) == CHECK_EVERY:
                    total_loss, seen = self._read_losses(
                        losses, sizes, total_loss, seen, epoch, batch_i
                    )
                if progress:
                    progress.on_batch_end(self, batch_i, loss)
            if losses:
                total_loss, seen = self._read_losses(
                    losses, sizes, total_loss, seen, epoch, batch_i
                )
            record = {
                "epoch": epoch + 1,
                "train_loss": total_loss / max(seen, 1),
                "lr": self.opt.param_groups[0]["lr"],
            }
            # Rank 0 evaluates, every process acts on its figures: the same early stopping.
            valid = distributed.broadcast(self.evaluate("valid") if rank == 0 else None)
            record.update({f"valid_{k}": v for k, v in valid.items()})
            record["seconds"] = time.perf_counter() - t0
            self.history.append(record)
            self._update_best(valid[task.primary_metric], valid["loss"], epoch + 1)
            # Early stopping's patience ran out at a high rate: anneal first, then stop.
            if self._plan_cooldown(epoch + 1, epochs, steps_per_epoch, total_steps) and progress:
                progress.shorten(self.cooldown.end() // steps_per_epoch)  # type: ignore[union-attr]
            self.last_record = record
            if self.out is not None:
                self._save_last(gen, epoch + 1)
            if progress:
                progress.on_epoch_end(self)
            self._emit("on_epoch_end")
        self.stopped_early = len(self.history) < epochs
        # The budget ran out while the valid metric was still improving: more epochs may help.
        self.budget_ran_out = not self.stopped_early and self.best_epoch == len(self.history)
        if progress:
            progress.on_fit_end(self)
        self.model.load_state_dict(self._best_state)
        self._emit("on_fit_end")
        return self.history

    def _batches(self, gen: torch.Generator, drop_last: bool, epoch: int) -> Any:
        """This epoch's training batches ``(x, y, loss weight)``, shuffled by `gen` alone."""
        pin = self.device_.type == "cuda" and not self._train.in_memory  # async copies
        if self.world_ > 1:
            return distributed.shard_batches(
                self._train,
                self.batch_size,
                generator=gen,
                drop_last=drop_last,
                epoch=epoch,
                seed=self.seed,
                pin_memory=pin,
            )
        batches = self.task.train_batches(
            self._train, self.batch_size, generator=gen, drop_last=drop_last, pin_memory=pin
        )
        return ((xb, yb, 1.0) for xb, yb in batches)

    def _on_device(self) -> bool:
        """Whether the training split already lives on the training device (nothing to copy)."""
        y, dev = self._train.y, self.device_
        if not self._train.in_memory or y is None or y.device.type != dev.type:
            return False
        return dev.index is None or y.device.index == dev.index

    def _read_losses(
        self,
        losses: list[Tensor],
        sizes: list[int],
        total: float,
        seen: int,
        epoch: int,
        last_batch: int,
    ) -> tuple[float, int]:
        """Read the pending losses from the device (one sync), stop on the first NaN/Inf, and
        add them to the epoch's running sum; empties `losses` and `sizes`."""
        first = last_batch - len(losses) + 1
        stacked = torch.stack(losses).float()
        if self.world_ == 1:
            pairs = list(zip(stacked.tolist(), sizes, strict=True))
        else:
            # Every process reads the same sums: a NaN anywhere stops all of them at once.
            counts = torch.tensor(sizes, dtype=torch.float32, device=stacked.device)
            both = distributed.all_sum(torch.stack([stacked * counts, counts]))
            pairs = [(s / n, int(n)) for s, n in zip(*both.tolist(), strict=True)]
        losses.clear()
        sizes.clear()
        for i, (value, n) in enumerate(pairs):
            if not math.isfinite(value):
                self._fail_non_finite(value, epoch, first + i)
            total += value * n
            seen += n
        return total, seen

    def _forward_loss(self, xb: Tensor, yb: Tensor) -> Tensor:
        try:
            out = call_model(self._net, xb)
            loss = self.loss_fn(out, yb)
        except Exception as e:
            raise ModelError(
                f"The model or loss failed on a training batch of shape {describe_shape(xb)} "
                f"({type(e).__name__}: {e}): run nr.check(model, data) to find out why."
            ) from e
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            raise ModelError("The loss must return a scalar tensor; use reduction='mean'.")
        return loss

    def _fail_non_finite(self, value: float, epoch: int, batch: int) -> None:
        kept = "the weights of the best epoch so far are restored"
        if self.out is not None and self._last_path().exists():
            kept += f" and the last good checkpoint is kept at {self._last_path()}"
        self.model.load_state_dict(self._best_state)
        raise TrainingError(
            f"The training loss became {value} at epoch {epoch + 1}, batch {batch + 1}: {kept}. "
            "Lower the learning rate, check the inputs for NaN/Inf (nr.audit), or keep clipping on."
        )

    def _update_best(self, score: float, loss: float, epoch: int) -> None:
        # Ties in the metric (common on small validation sets: accuracy moves in steps of 1/n)
        # are broken by the validation loss, so the best epoch is not just the first lucky one.
        improved = (
            self.best_score is None
            or self.task.better(score, self.best_score)
            or (score == self.best_score and loss < self._best_loss)
        )
        # auto's plateau: epochs since the metric itself improved (a lower loss at the same
        # accuracy does not hold the peak rate: on digits it kept it 12 epochs longer, for
        # the same best score).
        strict = self.best_score is None or self.task.better(score, self.best_score)
        self._stalled = 0 if strict else self._stalled + 1
        if improved:
            self.best_score, self.best_epoch, self._bad_epochs = score, epoch, 0
            self._best_loss = loss
            self._best_state = ckpt.model_state(self.model)
            if self.out is not None and distributed.is_main():
                ckpt.save_model(
                    self.out / "checkpoints" / "best.safetensors",
                    self.model,
                    {"epoch": epoch, "score": score},
                )
        else:
            self._bad_epochs += 1

    def _bad_epochs_exceeded(self) -> bool:
        return self.patience is not None and self._bad_epochs > self.patience

    def _should_stop(self, step: int) -> bool:
        """Stop before `step`: a cooldown that has ended, or early stopping (outside one)."""
        cd = self.cooldown
        if cd is not None and step >= cd.start:
            return step >= cd.end()  # a cooldown runs to its end, then training stops
        return self._bad_epochs_exceeded()

    def _plan_cooldown(self, done: int, epochs: int, steps_per_epoch: int, total: int) -> bool:
        """After `done` epochs: if the metric stalled (auto: `patience` epochs without a better
        metric; otherwise early stopping fires) while the rate is above
        COOL_ABOVE of its peak, cool down over `cooldown_epochs` before stopping (a model
        stopped at the peak rate is not annealed). Returns whether a cooldown was planned."""
        stalled = (
            self.patience is not None and self._stalled > self.patience
            if self.schedule == "auto"
            else self._bad_epochs_exceeded()
        )
        if self.schedule == "constant" or not stalled or done >= epochs:
            return False
        step, cd = done * steps_per_epoch, self.cooldown
        if cd is not None and step >= cd.start:
            return False  # cooling down already: it runs to its end
        factor = lr_factor(self.schedule, step, total, warmup=self._warmup)
        if factor <= COOL_ABOVE:
            return False  # annealed already: early stopping stops now
        n = cooldown_epochs(done, epochs - done)
        self.cooldown = Cooldown(step, n * steps_per_epoch, factor, "plateau")
        return True

    def _emit(self, event: str) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(self)

    # -- checkpoints ----------------------------------------------------------------------------
    def _last_path(self) -> Path | None:
        name = "last-frozen" if self._phase == "frozen" else "last"
        return None if self.out is None else self.out / "checkpoints" / f"{name}.safetensors"

    def _save_last(self, gen: torch.Generator, epoch: int) -> None:
        # Every process's RNG states (dropout, augmentation) go into rank 0's checkpoint.
        states = distributed.gather((torch.get_rng_state(), _jsonable_random_state()))
        if not distributed.is_main():
            return
        tensors = {f"model.{k}": v for k, v in ckpt.model_state(self.model).items()}
        tensors.update({f"best.{k}": v for k, v in self._best_state.items()})
        opt_tensors, opt_meta = ckpt.optimizer_state(self.opt)
        tensors.update(opt_tensors)
        tensors["rng.torch"] = states[0][0]
        tensors.update({f"rng.torch.{r}": s[0] for r, s in enumerate(states) if r > 0})
        tensors["rng.shuffle"] = gen.get_state()
        meta = {
            "epoch": epoch,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "bad_epochs": self._bad_epochs,
            "stalled": self._stalled,
            "best_loss": self._best_loss,
            "optimizer": opt_meta,
            "python_random": states[0][1],
            "python_random_ranks": [s[1] for s in states[1:]],
            "world_size": self.world_,
            "threads": self.threads_used,
            "signature": self._signature,
            "cooldown": None if self.cooldown is None else self.cooldown.as_dict(),
        }
        ckpt.save_tensors(self._last_path(), tensors, meta)  # type: ignore[arg-type]
        self._write_metrics_csv()

    def _restore(self, gen: torch.Generator, *, reshard: bool = False) -> int:
        path = self._last_path()
        tensors, meta = ckpt.load_tensors(path)  # type: ignore[arg-type]
        saved_world = int(meta.get("world_size", 1))
        if saved_world != self.world_ and not reshard:
            raise TrainingError(
                f"Cannot resume from {path} on {self.world_} process(es): it was "
                f"trained on {saved_world}; resume with --nproc {saved_world}, or pass --reshard "
                f"(reshard=True) to continue on {self.world_}, not bit-identically."
            )
        ckpt.check_resumable(path, tensors, meta, self.model, self.opt)  # type: ignore[arg-type]
        if meta.get("signature") != self._signature:
            raise TrainingError(
                f"Cannot resume from {self._last_path()}: it was trained with {meta.get('signature')}, "
                f"now {self._signature}; resume with the same settings or start a new run."
            )
        self.threads_used = max(1, int(meta["threads"]))
        torch.set_num_threads(self.threads_used)
        try:
            self.model.load_state_dict(
                {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            )
            self._best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
            ckpt.load_optimizer_state(self.opt, tensors, meta["optimizer"])
            gen.set_state(tensors["rng.shuffle"])
            rank = distributed.rank()
            key = "rng.torch" if rank == 0 else f"rng.torch.{rank}"
            if key in tensors:
                torch.set_rng_state(tensors[key])
                state = (
                    meta["python_random"] if rank == 0 else meta["python_random_ranks"][rank - 1]
                )
                random.setstate((state[0], tuple(state[1]), state[2]))
            else:  # resharded onto more processes: a new stream for this one
                torch.manual_seed(self.seed + rank + 7919 * int(meta["epoch"]))
                random.seed(self.seed + rank + 7919 * int(meta["epoch"]))
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as e:
            raise ckpt.damaged(path, f"{type(e).__name__}: {str(e)[:100]}") from None  # type: ignore[arg-type]
        self.history = meta["history"]
        self.best_epoch, self.best_score, self._bad_epochs = (
            meta["best_epoch"],
            meta["best_score"],
            meta["bad_epochs"],
        )
        self._best_loss = meta["best_loss"]
        self._stalled = int(meta.get("stalled", self._bad_epochs))
        cd = meta.get("cooldown")
        self.cooldown = None if cd is None else Cooldown(**cd)
        return int(meta["epoch"])

    def _write_metrics_csv(self) -> None:
        import csv
        import io

        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in self.history for k in r))
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.out / "metrics.csv", buf.getvalue())  # type: ignore[operator]

    # -- evaluation and prediction ------------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str = "valid") -> tuple[Tensor, Tensor]:
        """Raw model outputs and targets over a whole split (eval mode), on the CPU."""
        self._setup()
        s = self.data.splits.get(split)
        if s is None:
            raise ConfigError(
                f"The data has no {split!r} split; it has {', '.join(self.data.splits)}."
            )
        was_training = self.model.training
        self.model.eval()
        outs, ys = [], []
        for xb, yb in s.batches(max(self.batch_size, 256)):
            xb = batch_to(xb, self.device_)
            if self._channels_last:
                xb = to_channels_last(xb)
            with autocast(self.precision, self.device_):
                outs.append(call_model(self.model, xb).float().cpu())
            ys.append(yb)
        self.model.train(was_training)
        return torch.cat(outs), torch.cat(ys)

    def evaluate(self, split: str = "valid") -> dict[str, float]:
        """Loss and the task's metrics on a split ("train", "valid", "test", "train_dev")."""
        out, y = self.outputs(split)
        with torch.no_grad():
            loss = float(self.loss_fn(out, y))
        extra = {name: float(fn(out, y)) for name, fn in self.metrics.items()}
        own = self.task.model_metrics(self.model)  # e.g. word vectors vs human judgements
        return {"loss": loss, **own, **self.task.metrics(out, y), **extra}

    @torch.no_grad()
    def predict(self, x: Any, *, raw: bool = False) -> Tensor:
        """Predictions for inputs `x` (array or tensor shaped like the training inputs): class
        labels or values; ``raw=True`` gives the model's outputs (logits)."""

        self._setup()
        xt = as_tensor(x, "inputs")
        expected = self.data.input_shape
        if tuple(xt.shape[1:]) != expected and tuple(xt.shape) == expected:
            xt = xt[None]
        if xt.ndim == 0 or len(xt) == 0:
            raise DataError(
                f"predict got no samples (shape {tuple(xt.shape)}): pass inputs shaped (N, {', '.join(map(str, expected))})."
            )
        self.model.eval()
        try:
            out = torch.cat(
                [
                    call_model(self.model, xt[i : i + 1024].to(self.device_)).float().cpu()
                    for i in range(0, len(xt), 1024)
                ]
            )
        except Exception as e:
            raise ModelError(
                f"The model failed on inputs of shape {tuple(xt.shape)} ({type(e).__name__}: "
                f"{str(e)[:100]}): it was trained on inputs shaped (N, "
                f"{', '.join(map(str, expected))}); pass inputs of that shape."
            ) from None
        return out if raw else self.task.predict(out)

    # -- transfer learning (nnrecipe.train.transfer) -------------------------------------------
    def freeze(self, *, train_bn: bool = True) -> None:
        """Freeze every layer group but the head (``requires_grad=False``); with `train_bn`
        BatchNorm/LayerNorm of the body keep training (see `nnrecipe.train.transfer`)."""
        self._setup()
        transfer.freeze(self, train_bn=train_bn)

    def unfreeze(self) -> None:
        """Make every parameter trainable."""
        self._setup()
        transfer.unfreeze(self)

    def fine_tune(
        self,
        epochs: int,
        freeze_epochs: int = 1,
        base_lr: float | None = None,
        *,
        train_bn: bool = True,
        lr_mult: float = 100.0,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        """fastai's ``fine_tune``: `freeze_epochs` training the head with the body frozen, then
        `epochs` training everything with discriminative rates (``base_lr / 200`` for the earliest
        group up to ``base_lr / 2`` for the head; `lr_mult` is that 200 / 2), each phase a one-cycle schedule with warm-up.
        `base_lr` defaults to the Learner's `lr` (``"auto"`` included). Resumes bit-identically
        after a kill in either phase (``resume=True``). Returns both phases' history."""
        return transfer.fine_tune(
            self,
            epochs,
            freeze_epochs=freeze_epochs,
            base_lr=base_lr,
            train_bn=train_bn,
            lr_mult=lr_mult,
            resume=resume,
        )

    def _repr_html_(self) -> str:

        return learner_html(self)


def _lookup_name(name: str) -> str:
    return ALIASES.get(name, name)


def _jsonable_random_state() -> list[Any]:
    version, state, gauss = random.getstate()
    return [version, list(state), gauss]


def fit(model: nn.Module, data: Data | tuple, *, epochs: int = 20, **options: Any) -> Learner:
    """Train `model` on `data` with a `Learner` and return it (shortcut for
    ``Learner(model, data, **options).fit(epochs)``)."""
    learner = Learner(model, data, **options)
    learner.fit(epochs)
    return learner
