"""`Monitor`: records, during training, what the report shows from inside the model.

Per epoch (and once at init, epoch 0) it records:
- prediction dynamics: the model's output on a fixed batch of validation samples (probability of
  the true class and the predicted class; the predicted value for regression);
- per-layer activation statistics on that batch: mean, std and, for ReLU-family layers, the
  fraction of dead units (channels that output <= 0 for every sample and position);
- gradient norms per weight tensor: the root mean square over the epoch's steps of each
  training step's gradient norm (before clipping), and of the global norm.

It must not change training: the snapshot is an eval-mode forward under ``torch.no_grad`` (no
dropout, BatchNorm running statistics untouched, train mode restored), the global RNG state is
saved and restored around it (a streamed DataLoader draws a seed), and the gradient hooks only
read ``param.grad``. The record is a JSON file written atomically after each epoch; a resumed
fit reloads it and keeps the epochs the checkpoint has (an epoch whose record was lost to a kill
between the checkpoint and the monitor's write is missing from the record, nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.data.batch import batch_take, batch_to, call_model
from nnrecipe.io import atomic_write_text

# Size of the fixed validation batch whose predictions are followed across epochs.
DYNAMICS_SAMPLES = 20
# At most this many layers get activation statistics / gradient norms (evenly spaced).
MAX_LAYERS = 24
RELU_FAMILY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU)
ACTIVATIONS = (
    *RELU_FAMILY,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardswish,
)


def _spread(items: list[Any], k: int) -> list[Any]:
    """At most `k` items, evenly spaced, first and last kept."""
    if len(items) <= k:
        return items
    step = (len(items) - 1) / (k - 1)
    return [items[round(i * step)] for i in range(k)]


def fixed_positions(
    labels_t: Tensor | None, n_samples: int, n: int = DYNAMICS_SAMPLES
) -> list[int]:
    """Positions of the followed validation samples: a few of each class, in split order
    (deterministic, no RNG); the first `n` when the task has no per-sample labels."""
    if labels_t is None:
        return list(range(min(n, n_samples)))
    labels = labels_t.reshape(-1).tolist()
    classes = sorted(set(labels))
    per_class = max(1, n // max(len(classes), 1))
    picked: list[int] = []
    for c in classes:
        picked += [i for i, v in enumerate(labels) if v == c][:per_class]
    return sorted(picked[:n]) if len(classes) <= n else list(range(min(n, n_samples)))


class Monitor:
    """A `Learner` callback recording prediction dynamics, activation statistics and gradient
    norms to `path` (JSON). See the module docstring for what is recorded and why it is safe."""

    def __init__(self, path: str | Path, *, samples: int = DYNAMICS_SAMPLES) -> None:
        self.path = Path(path)
        self.samples = samples
        self.record: dict[str, Any] = {}
        self._hooks: list[Any] = []
        self._sq: dict[str, Tensor] = {}
        self._steps = 0

    # -- events ---------------------------------------------------------------------------------
    def on_fit_start(self, learner: Any) -> None:
        rng = torch.get_rng_state()
        try:
            self._choose_batch(learner)
        finally:
            torch.set_rng_state(rng)
        done = len(learner.history)
        old = self._load() if done else None
        if old is not None and old.get("positions") == self.record["positions"]:
            # Resumed: keep what the checkpoint's epochs recorded.
            old["epochs"] = [e for e in old["epochs"] if e["epoch"] <= done]
            self.record = old
        elif done == 0:
            # The loss at init on the whole valid split, for the report's loss-at-init line.
            rng = torch.get_rng_state()
            try:
                self.record["init"] = learner.evaluate("valid")
            except Exception as e:  # noqa: BLE001 - training itself reports a broken model
                self.record["errors"] = [f"init: {type(e).__name__}: {e}"]
            finally:
                torch.set_rng_state(rng)
            self._snapshot(learner, 0, grads=None)
        self._attach_grad_hooks(learner.model)

    def on_epoch_end(self, learner: Any) -> None:
        epoch = len(learner.history)
        grads = None
        if self._steps:
            grads = {k: float((v / self._steps).sqrt()) for k, v in self._sq.items()}
            grads["(global)"] = float((sum(self._sq.values()) / self._steps).sqrt())
        self._reset_grads()
        self._snapshot(learner, epoch, grads=grads)

    def on_fit_end(self, learner: Any) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # -- recording ------------------------------------------------------------------------------
    def _choose_batch(self, learner: Any) -> None:
        task = learner.task
        split = learner.data.valid
        # A streamed split is read only up to its first 1000 samples.
        x, y = split.tensors() if split.in_memory else split.tensors(1000)
        positions = fixed_positions(task.labels_for_audit(y), len(y), self.samples)
        index = torch.tensor(positions, dtype=torch.long)
        self._x, self._y = batch_take(x, index), y[index]
        model = learner.model
        acts = [(n, m) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
        if not acts:  # functional activations: follow the linear / conv layers' outputs
            acts = [
                (n, m)
                for n, m in model.named_modules()
                if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
            ]
        self._layers = _spread(acts, MAX_LAYERS)
        weights = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
        self._weights = _spread(weights, MAX_LAYERS)
        index = split.index
        self.record = {
            "positions": positions,
            "index": [int(index[i]) for i in positions] if index is not None else positions,
            "targets": self._y.reshape(len(positions), -1)[:, 0].tolist(),
            "task": task.name,
            "layers": [n or "(model)" for n, _ in self._layers],
            "weights": [n for n, _ in self._weights],
            "epochs": [],
        }

    @torch.no_grad()
    def _snapshot(self, learner: Any, epoch: int, *, grads: dict[str, float] | None) -> None:
        model, task = learner.model, learner.task
        stats: dict[str, dict[str, float | None]] = {}
        handles = []
        for name, module in self._layers:
            handles.append(
                module.register_forward_hook(self._stat_hook(name or "(model)", module, stats))
            )
        was_training = model.training
        rng = torch.get_rng_state()
        model.eval()
        try:
            out = call_model(model, batch_to(self._x, learner.device_)).float().cpu()
        except Exception as e:  # noqa: BLE001 - a record is never worth stopping training for
            self.record.setdefault("errors", []).append(f"epoch {epoch}: {type(e).__name__}: {e}")
            self._save()
            return
        finally:
            model.train(was_training)
            torch.set_rng_state(rng)
            for h in handles:
                h.remove()
        entry: dict[str, Any] = {"epoch": epoch, "activations": stats, "grad_norms": grads}
        try:
            entry.update(task.record(out, self._y))
        except Exception as e:  # noqa: BLE001 - an output this record cannot read
            self.record.setdefault("errors", []).append(f"epoch {epoch}: {type(e).__name__}: {e}")
        self.record["epochs"].append(entry)
        self._save()

    @staticmethod
    def _stat_hook(name: str, module: nn.Module, stats: dict[str, Any]) -> Any:
        relu = isinstance(module, RELU_FAMILY)

        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            if name in stats or not isinstance(out, Tensor) or not out.is_floating_point():
                return  # a module called twice per forward: its first call is recorded
            a = out.detach().float()
            entry: dict[str, float | None] = {
                "mean": float(a.mean()),
                "std": float(a.std()) if a.numel() > 1 else 0.0,
                "dead": None,
            }
            if relu and a.ndim >= 2:
                # A unit (channel) is dead when it is <= 0 for every sample and position.
                per_unit = a.transpose(0, 1).reshape(a.shape[1], -1)
                entry["dead"] = float((per_unit <= 0).all(dim=1).float().mean())
            stats[name] = entry

        return hook

    def _attach_grad_hooks(self, model: nn.Module) -> None:
        self._reset_grads()
        for name, p in self._weights:
            self._hooks.append(p.register_post_accumulate_grad_hook(self._grad_hook(name)))

    def _grad_hook(self, name: str) -> Any:
        def hook(p: Tensor) -> None:
            if p.grad is None:
                return
            sq = p.grad.detach().float().pow(2).sum()
            self._sq[name] = self._sq[name] + sq if name in self._sq else sq
            if name == self._weights[0][0]:
                self._steps += 1  # one step per backward of the first followed weight

        return hook

    def _reset_grads(self) -> None:
        self._sq, self._steps = {}, 0

    # -- file -----------------------------------------------------------------------------------
    def _save(self) -> None:

        atomic_write_text(self.path, json.dumps(self.record))

    def _load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
