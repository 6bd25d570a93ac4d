"""`Recorder`: the hooks that watch a user's training loop, and what they record.

It only reads. Hooks attached for the block's duration, all removed on exit:
- a forward hook on the model (and, when the loop never calls the model itself, e.g. a Lightning
  ``training_step`` calling ``self.net``, on its direct children): grad mode, how many dropout /
  BatchNorm modules are in training mode, a fingerprint of evaluation inputs, finite outputs;
- ``Tensor.backward`` wrapped: counts backward passes, reads the loss (sampled) and, for each
  optimizer, whether a probe parameter's gradient was cleared before this backward;
- a global optimizer step post hook (``torch.optim.optimizer.register_optimizer_step_post_hook``):
  steps, learning rates, modes at the step, gradient norms (sampled), parameters without grad;
- ``LRScheduler.step`` (and the subclasses that override it), ``GradScaler.step`` and
  ``DataLoader.__iter__`` wrapped: scheduler calls, scaler steps, epoch starts.

The post hook (not the pre hook) sees a step: with ``optimizer.step(closure)`` (Lightning) the
forward and backward run inside the step call, after its pre hooks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.watch import patches
from nnrecipe.watch.records import (
    BATCHNORM,
    DROPOUT,
    MAX_FINGERPRINTS,
    MAX_PHASES,
    MAX_SERIES,
    OptRecord,
    Phase,
    append_bounded,
    fingerprint,
    first_tensor,
    subclasses,
    unfrozen,
)

# Gradient clearing is read before every backward of the first OBSERVE_STEPS steps of each
# optimizer, then of one step in `every` (a None check per backward with set_to_none).
# Gradient norms and the loss (a few small tensor ops and a device sync each) are measured at
# the first WARMUP_STEPS steps, then at one step in `every`; outputs only once something was
# non-finite. A divergence that overflows between two measured steps is reported as non-finite
# (not as exploding gradients). Cost measured in bench/watch.py.
OBSERVE_STEPS = 20
WARMUP_STEPS = 20
DEFAULT_EVERY = 25
_UNSEEN = object()


class Recorder:
    """Everything a watched loop showed; see the module docstring for the hooks."""

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizers: list[Any] = (),  # type: ignore[assignment]
        every: int = DEFAULT_EVERY,
    ) -> None:
        self.model = model
        self.every = max(1, int(every))
        # All parameters: the loop may freeze some inside the block (`trainable()` at the end).
        self.params = list(model.named_parameters())
        self.param_ids = {id(p) for _, p in self.params}
        self.names = {id(p): n for n, p in self.params}
        stoch = [
            (n or type(m).__name__, m)
            for n, m in model.named_modules()
            if (isinstance(m, DROPOUT) and m.p > 0) or isinstance(m, BATCHNORM)
        ]
        self.stoch = [m for _, m in stoch]
        self.stoch_names = [n for n, _ in stoch]
        self.stoch_pairs = stoch
        self.opts: dict[int, OptRecord | None] = {}
        self.records: list[OptRecord] = []  # the optimizers of this model, in order seen
        self.steps = 0
        self.backwards = 0
        self.passes = 0
        self.losses: list[tuple[int, float]] = []
        self.grad_norms: list[tuple[int, float]] = []  # (step, global norm), after the block
        self._norms: list[tuple[int, Tensor, list[str]]] = []  # (step, per-parameter, names)
        self.nonfinite: dict[str, dict[str, Any]] = {}
        self.eval_mode_steps: list[int] = []
        self.eval_mode_modules: list[str] = []
        self.pending_grad: dict[str, Tensor] = {n: p for n, p in self.params}
        self._sched_opt: dict[int, OptRecord | None] = {}
        self._sched_count: dict[int, int] = {}
        self._sched_keep: list[Any] = []
        self.early_schedulers: list[dict[str, Any]] = []  # calls before the first step
        self.loader_starts: list[tuple[int, int, int]] = []  # (loader id, steps, backwards)
        self.phases: list[Phase] = []
        self.phase_count = 0
        self._phase: Phase | None = None
        self._pending: tuple[int, int, Any, Any] | None = None  # grad-enabled pass, no backward yet
        self._handles: list[Any] = []
        self._live = False
        self.failure: str | None = None
        self._patches: list[tuple[Any, str, Any]] = []
        self._children = False
        self._in_root = 0
        self._in_sched = 0
        self._in_step = 0
        self._fp_weights: dict[tuple[int, str], Tensor] = {}
        self.exception: str | None = None
        for opt in optimizers:
            self._opt(opt)

    # -- attach / detach ----------------------------------------------------------------------
    def attach(self) -> None:
        from torch.optim.optimizer import register_optimizer_step_post_hook

        root = self.model

        # Closures, not bound methods: `copy.deepcopy(model)` inside the loop (a best-model or
        # EMA copy) copies the hook dict; a closure is copied by reference and ignores the copy.
        def on_model(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            if module is root and self._live:  # inputs may be keywords: model(**batch)
                try:
                    self._on_pass(module, args or tuple(kwargs.values()), out)
                except Exception as e:  # noqa: BLE001 - see _fail
                    self._fail(e)

        self._live = True
        self._handles.append(root.register_forward_hook(on_model, with_kwargs=True))
        self._handles.append(register_optimizer_step_post_hook(self._step_hook))
        self._patch(torch.Tensor, "backward", self._wrap_backward)
        self._patch(torch.utils.data.DataLoader, "__iter__", lambda f: patches.loader_iter(self, f))
        from torch.optim import lr_scheduler

        for cls in [lr_scheduler.LRScheduler, *subclasses(lr_scheduler.LRScheduler)]:
            if "step" in cls.__dict__:
                self._patch(cls, "step", lambda f: patches.scheduler_step(self, f))
        self._patch(torch.amp.GradScaler, "step", lambda f: patches.scaler_step(self, f))

    def detach(self) -> None:
        """Remove every hook and patch (in reverse order); safe to call twice."""
        self._live = False
        for h in self._handles:
            h.remove()
        self._handles = []
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches = []

    def _patch(self, owner: Any, name: str, wrap: Any) -> None:
        original = owner.__dict__[name]
        self._patches.append((owner, name, original))
        setattr(owner, name, wrap(original))

    # -- optimizers ---------------------------------------------------------------------------
    def _opt(self, opt: Any) -> OptRecord | None:
        key = id(opt)
        if key in self.opts:
            rec = self.opts[key]
            if rec is None or rec.optimizer is opt:
                return rec
        ids = {id(p) for g in opt.param_groups for p in g["params"]}
        mine = [p for g in opt.param_groups for p in g["params"] if id(p) in self.param_ids]
        if not mine:
            self.opts[key] = None  # another model's optimizer
            return None
        # The probe: the optimizer's last parameter of the model (usually an output bias: it
        # always gets a gradient), read before each backward to see whether it was cleared.
        probe = mine[-1]
        index = len(self.records)
        rec = OptRecord(
            index, type(opt).__name__, opt, probe, self.names[id(probe)], ids & self.param_ids
        )
        rec.first_global_step = self.steps
        self.opts[key] = rec
        self.records.append(rec)
        if isinstance(opt, torch.optim.LBFGS):
            # LBFGS re-evaluates its closure, clearing the gradients each time, inside step():
            # those backward passes belong to the step (a pre hook for it alone, as the global
            # pre hook would cost every other loop a call per step).
            self._handles.append(opt.register_step_pre_hook(self._step_pre_hook))
            rec.closure_steps = True
        return rec

    def _sampled(self) -> bool:
        return self.steps < WARMUP_STEPS or self.steps % self.every == 0 or bool(self.nonfinite)

    def _step_pre_hook(self, opt: Any, args: Any, kwargs: Any) -> None:
        self._in_step += 1

    def _step_hook(self, opt: Any, args: Any, kwargs: Any) -> None:
        if self._live:
            try:
                self._on_step(opt)
            except Exception as e:  # noqa: BLE001 - see _fail
                self._fail(e)

    def _fail(self, e: Exception) -> None:
        """A failure in the watcher's own measurements turns it off (``failure`` says why, in
        the result's stats): the user's loop must never fail because it is watched."""
        self._live = False
        self.failure = f"{type(e).__name__}: {e}"

    def _on_step(self, opt: Any) -> None:
        # The hot path: a few attribute reads per step; tensors are touched at sampled steps.
        rec = self.opts.get(id(opt), _UNSEEN)
        if rec is _UNSEEN or (rec is not None and rec.optimizer is not opt):
            rec = self._opt(opt)
        if rec is None:
            return
        if rec.closure_steps and self._in_step:  # (not at the step that found it)
            self._in_step -= 1
        rec.steps += 1
        self.steps += 1
        step = self.steps
        if rec.window:  # empty for an optimizer first seen at this step: nothing observed
            rec.windows.append((step, len(rec.window), sum(rec.window)))
            rec.window = []
        rec.observing = rec.steps < OBSERVE_STEPS or rec.steps % self.every == 0
        sampled = step < WARMUP_STEPS or step % self.every == 0 or bool(self.nonfinite)
        # The learning rate at sampled steps, and whenever it moved by more than 2x since the
        # last record (a step decay is seen at once; a smooth per-batch schedule is sampled).
        lr = opt.param_groups[0].get("lr")
        lr = float(lr) if lr is not None else math.nan
        last = rec.lrs[-1][1] if rec.lrs else None
        if last is None or (lr != last and (sampled or not 0.5 * last <= lr <= 2 * last)):
            rec.lrs.append((rec.steps, lr))
        if self._phase is not None:
            self._close_phase()
        if self.stoch_pairs:
            # Eval mode matters for dropout, and for BatchNorm unless frozen (no trainable weight).
            evals = [n for n, m in self.stoch_pairs if not m.training and unfrozen(m)]
            if evals:
                self.eval_mode_steps.append(step)
                if not self.eval_mode_modules:
                    self.eval_mode_modules = evals
        if sampled:
            if self.pending_grad:
                for name, p in list(self.pending_grad.items()):
                    if id(p) in rec.param_ids and p.grad is not None and bool(p.grad.any()):
                        del self.pending_grad[name]
            self._grad_norm(rec, step)
        if not self.passes and not self._children:
            self._watch_children()

    def _grad_norm(self, rec: OptRecord, step: int) -> None:
        """Per-parameter gradient norms, kept as one tensor: no device sync in the loop, the
        numbers are read after the block (`finish`)."""
        named = [
            (self.names[id(p)], p.grad)
            for g in rec.optimizer.param_groups
            for p in g["params"]
            if p.grad is not None and id(p) in self.param_ids
        ]
        if named:
            with torch.no_grad():
                norms = torch.stack(torch._foreach_norm([g for _, g in named])).float()
            self._norms.append((step, norms, [n for n, _ in named]))
            if len(self._norms) > MAX_SERIES:
                del self._norms[::2]

    def _read_norms(self) -> None:
        for step, norms, names in self._norms:
            total = float(torch.linalg.vector_norm(norms))
            self.grad_norms.append((step, total))
            if not math.isfinite(total) and "gradient" not in self.nonfinite:
                bad = [
                    n for n, ok in zip(names, torch.isfinite(norms).tolist(), strict=True) if not ok
                ]
                self.nonfinite["gradient"] = {"step": step, "value": total, "parameters": bad[:20]}
        self._norms = []

    # -- backward -----------------------------------------------------------------------------
    def _wrap_backward(self, original: Any) -> Any:
        def backward(tensor: Tensor, *args: Any, **kwargs: Any) -> Any:
            if self._live:
                try:
                    self._on_backward(tensor)
                except Exception as e:  # noqa: BLE001 - see _fail
                    self._fail(e)
            return original(tensor, *args, **kwargs)

        backward.__wrapped__ = original  # type: ignore[attr-defined]
        return backward

    def _on_backward(self, loss: Tensor) -> None:
        self.backwards += 1
        self._pending = None  # the last grad-enabled pass was a training pass
        if self._phase is not None:
            self._close_phase()
        for rec in self.records if not self._in_step else ():
            if rec.observing:
                g = rec.probe.grad
                rec.window.append(g is None or not bool(g.any()))
        step = self.steps
        if (step < WARMUP_STEPS or step % self.every == 0 or self.nonfinite) and loss.numel() == 1:
            value = float(loss.detach())
            append_bounded(self.losses, (self.steps + 1, value))
            if not math.isfinite(value) and "loss" not in self.nonfinite:
                self.nonfinite["loss"] = {"step": self.steps + 1, "value": value}

    # -- forward ------------------------------------------------------------------------------
    def _watch_children(self) -> None:
        """The loop never called the model itself (a Lightning ``training_step`` calling
        ``self.net(x)``): watch its direct children instead, outermost call only."""
        self._children = True
        root = self.model
        children = {id(c) for c in root.children()}

        def enter(m: nn.Module, _a: Any) -> None:
            self._in_root += m is root

        def leave(m: nn.Module, _a: Any, _o: Any) -> None:
            self._in_root -= m is root

        def on_child(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            # Nested in a call of the model: the model's own hook sees it.
            if self._live and not self._in_root and id(module) in children:
                try:
                    self._on_pass(module, args or tuple(kwargs.values()), out)
                except Exception as e:  # noqa: BLE001 - see _fail
                    self._fail(e)

        self._handles.append(root.register_forward_pre_hook(enter))
        self._handles.append(root.register_forward_hook(leave, always_call=True))
        for child in root.children():
            self._handles.append(child.register_forward_hook(on_child, with_kwargs=True))

    def _on_pass(self, module: nn.Module, args: Any, out: Any) -> None:
        self.passes += 1
        grad = torch.is_grad_enabled()
        if self._pending is not None:
            # The previous grad-enabled pass got no backward before this one: evaluation-like.
            self._eval_pass(*self._pending)
            self._pending = None
        n_train = sum(m.training for m in self.stoch) if self.stoch else 0
        # Inputs are fingerprinted only for passes that look like evaluation: no grad, or
        # dropout/BatchNorm switched to eval mode (training passes are not worth the cost).
        if grad:
            fp = self._fingerprint(args) if self.stoch and not n_train else None
            self._pending = (id(module), n_train, fp, False)
        else:
            self._eval_pass(id(module), n_train, self._fingerprint(args), True)
        # Outputs are checked only once the loss or the gradients were seen non-finite (a
        # healthy loop pays nothing): the evidence then says whether the outputs are too.
        if self.nonfinite and "output" not in self.nonfinite:
            o = first_tensor(out)
            if (
                o is not None
                and o.is_floating_point()
                and not bool(torch.isfinite(o.detach()).all())
            ):
                self.nonfinite["output"] = {"step": self.steps + 1, "pass": self.passes}

    def _eval_pass(self, module: int, n_train: int, fp: Tensor | None, no_grad: bool) -> None:
        ph = self._phase
        if ph is None:
            ph = self._phase = Phase(step=self.steps, fp_module=module)
        ph.passes += 1
        ph.no_grad += no_grad
        if n_train:
            ph.train_mode += 1
            if not ph.modules_in_train:
                ph.modules_in_train = [
                    n for n, m in zip(self.stoch_names, self.stoch, strict=True) if m.training
                ][:10]
        if fp is not None and module == ph.fp_module and ph.samples < MAX_FINGERPRINTS:
            ph.fingerprints.append(fp)
            ph.samples += len(fp)

    def _close_phase(self) -> None:
        ph, self._phase = self._phase, None
        if ph is None:
            return
        self.phase_count += 1
        if len(self.phases) < MAX_PHASES:
            self.phases.append(ph)

    @property
    def scheduler_calls(self) -> dict[tuple[str, int], int]:
        """Scheduler steps per (scheduler class, optimizer index)."""
        out: dict[tuple[str, int], int] = {}
        for sched in self._sched_keep:
            rec = self._sched_opt[id(sched)]
            if rec is not None:
                key = (type(sched).__name__, rec.index)
                out[key] = out.get(key, 0) + self._sched_count.get(id(sched), 0)
        return out

    def trainable(self) -> list[tuple[str, Tensor]]:
        """The parameters that require a gradient at the end of the block."""
        return [(n, p) for n, p in self.params if p.requires_grad]

    def finish(self) -> None:
        """Close what is still open at the end of the block; read the gradient norms."""
        self._read_norms()
        if self._pending is not None:
            self._eval_pass(*self._pending)
            self._pending = None
        self._close_phase()
        for rec in self.opts.values():
            if rec is not None:
                rec.window = []

    def _fingerprint(self, args: Any) -> Tensor | None:
        return fingerprint(first_tensor(args), self._fp_weights)
