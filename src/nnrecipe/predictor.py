"""Use what was trained: `nr.load(run)` gives a `Predictor` that takes inputs as the user has
them (image files or a folder, a table, arrays in raw units) and returns labels by name or
values in the target's units; `Predictor.export` writes ONNX or TorchScript.

Everything the run did to its inputs is replayed from the run folder's ``config.json`` (the
data's description): images are decoded in the same mode and resized to the same size, then
normalised with the training statistics; arrays of a built-in data set are scaled from the
source's units the way the loader scaled them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nnrecipe.data.batch import batch_cat, batch_len, batch_take, call_model, tensors_of
from nnrecipe.data.core import as_tensor
from nnrecipe.data.folder import IMAGE_SUFFIXES, _load_images
from nnrecipe.data.table import TableEncoder
from nnrecipe.errors import ConfigError, DataError
from nnrecipe.progress import progress_iter
from nnrecipe.tasks import Task, task_from_description
from nnrecipe.train.checkpoint import load_tensors
from nnrecipe.train.saved import build_from_meta, load_weights, run_config

# Inputs are scored in chunks of this many samples (bounded memory on large inputs).
CHUNK = 1024


class _Shape:
    """Enough of an `nr.Data` for a model builder: the input shape, the task and the modality."""

    def __init__(
        self, input_shape: Any, task: Task, modality: str, y_train: Tensor, meta: dict | None = None
    ) -> None:
        self.input_shape, self.task, self.modality = input_shape, task, modality
        self.train = _Targets(y_train)
        self.meta = meta or {}  # what table / ratings models are built from (columns, ids)


class _Targets:
    def __init__(self, y: Tensor) -> None:
        self.y = y

    def targets(self) -> Tensor:
        return self.y


class Predictor:
    """A trained model with everything needed to predict from raw inputs.

    Attributes:
        model: the trained `nn.Module` (eval mode).
        task: the run's `Task`.
        classes: class names (classification), else None.
        preprocess: what is applied to raw inputs (``image_size``, ``mode``, ``normalize``,
            ``input_scale``), from the run folder.
    """

    def __init__(self, model: nn.Module, task: Task, description: dict[str, Any]) -> None:
        self.model = model.eval()
        self.task = task
        self.description = description
        meta = description.get("meta") or {}
        self.preprocess = {
            k: meta[k] for k in ("image_size", "mode", "normalize", "input_scale") if k in meta
        }
        self.classes = getattr(task, "classes", None)
        self.input_shape = description.get("input_shape")

    def __repr__(self) -> str:
        return (
            f"Predictor({self.description.get('name')!r}, {self.task.name}, "
            f"{type(self.model).__name__}, inputs {tuple(self.input_shape or ())})"
        )

    # -- inputs ---------------------------------------------------------------------------------
    def _images(self, files: list[Path]) -> Tensor:
        size = self.preprocess.get("image_size")
        if not size:
            raise DataError(
                "This run was not trained on image files: pass arrays shaped like its inputs "
                f"{tuple(self.input_shape or ())}."
            )
        x, _ = _load_images(files, (int(size[0]), int(size[1])), self.preprocess["mode"], False, [])
        return x

    def _table(self, df: Any) -> Any:
        table = (self.description.get("meta") or {}).get("table")
        if not table:
            raise DataError(
                "This run was not trained on a CSV table: pass arrays shaped like its inputs "
                f"{tuple(self.input_shape or ())}."
            )
        encoded = TableEncoder.from_dict(table).transform(df)
        if isinstance(encoded, dict):
            return {k: torch.from_numpy(v) for k, v in encoded.items()}
        return torch.from_numpy(encoded)

    def inputs(self, inputs: Any) -> Any:
        """Raw inputs as the model's input tensors (normalised like the training data)."""
        if type(inputs).__name__ == "DataFrame":
            return self._table(inputs)
        if isinstance(inputs, str | Path) and Path(inputs).suffix.lower() in (".csv", ".tsv"):
            import pandas as pd

            sep = "\t" if Path(inputs).suffix.lower() == ".tsv" else ","
            return self._table(pd.read_csv(inputs, sep=sep))
        if isinstance(inputs, str | Path):
            p = Path(inputs)
            if p.is_dir():
                files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
                if not files:
                    raise DataError(f"{str(p)!r} holds no image files to predict.")
                x = self._images(files)
            elif p.suffix.lower() in IMAGE_SUFFIXES:
                x = self._images([p])
            elif p.is_file():
                raise DataError(
                    f"{str(p)!r} is neither an image nor a CSV table: pass image files, a "
                    "folder, a CSV file or DataFrame, or arrays."
                )
            else:
                raise DataError(f"{str(p)!r} does not exist: pass image files, a folder or arrays.")
            return self._normalize(x)
        if isinstance(inputs, list | tuple) and inputs and isinstance(inputs[0], str | Path):
            return self._normalize(self._images([Path(f) for f in inputs]))
        if isinstance(inputs, dict | tuple):
            return inputs  # multi-tensor inputs are taken as the model takes them
        x = as_tensor(inputs, "inputs").float()
        shape = tuple(self.input_shape or ())
        if shape and x.ndim <= len(shape) and x.numel() == int(np.prod(shape)):
            x = x.reshape(1, *shape)  # one sample, e.g. an (8, 8) image for (1, 8, 8) inputs
        if shape and tuple(x.shape[1:]) != shape:
            if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
                x = x.reshape(len(x), *shape)
            else:
                raise DataError(
                    f"The inputs have shape {tuple(x.shape)} but the model was trained on "
                    f"samples of shape {shape}: pass (N, {', '.join(map(str, shape))}) arrays."
                )
        if "input_scale" in self.preprocess:
            x = x * float(self.preprocess["input_scale"])
        return self._normalize(x)

    def _normalize(self, x: Tensor) -> Tensor:
        norm = self.preprocess.get("normalize")
        if not norm:
            return x
        mean = torch.tensor(norm["mean"], dtype=torch.float32)
        std = torch.tensor(norm["std"], dtype=torch.float32)
        if x.ndim > 2 and mean.numel() == x.shape[1]:  # per channel
            view = (1, -1) + (1,) * (x.ndim - 2)
        else:  # per feature of the flattened sample
            view = (1, *x.shape[1:]) if mean.numel() == int(np.prod(x.shape[1:])) else (1, -1)
        return (x - mean.reshape(view)) / std.reshape(view)

    # -- predictions ----------------------------------------------------------------------------
    @torch.no_grad()
    def outputs(self, inputs: Any, *, prepared: bool = False) -> Tensor:
        """Raw model outputs (logits, values) for `inputs`."""
        x = inputs if prepared else self.inputs(inputs)
        n = batch_len(x)
        chunks = range(0, n, CHUNK)
        if n > 10 * CHUNK:
            chunks = progress_iter(chunks, "predicting")
        outs = [
            call_model(self.model, batch_take(x, slice(i, i + CHUNK))).float().cpu() for i in chunks
        ]
        return batch_cat(outs)

    def predict(self, inputs: Any, *, proba: bool = False) -> Any:
        """Predictions for raw inputs: class names (or, with ``proba=True``, an (N, C) array of
        class probabilities), or values in the target's units.

        Args:
            inputs: image file paths, a folder of images, or arrays / tensors shaped like the
                training samples in the source's units (one sample or a batch).
            proba: class probabilities instead of labels (classification only).
        """
        out = self.outputs(inputs)
        if proba:
            probabilities = getattr(self.task, "probabilities", None)
            if probabilities is None:
                raise ConfigError(
                    f"proba=True needs a task with class probabilities; this run's task is "
                    f"{self.task.name!r}: call predict(inputs) for its predictions."
                )
            return probabilities(out).numpy()
        pred = self.task.predict(out)
        if self.classes and pred.ndim == 1 and not torch.is_floating_point(pred):
            return [self.classes[int(i)] for i in pred]
        return pred.numpy()

    # -- export ---------------------------------------------------------------------------------
    def export(self, path: str | Path, *, format: str = "onnx", sample: Any = None) -> Path:
        """Write the model as ONNX (``format="onnx"``, dynamic batch size, for onnxruntime) or
        TorchScript (``"torchscript"``, for ``torch.jit.load``); inputs are the preprocessed
        tensors, as `inputs(raw)` gives them. Returns the path written."""
        path = Path(path)
        if sample is None:
            sample = torch.zeros((2, *tuple(self.input_shape or ())), dtype=torch.float32)
        args = tuple(tensors_of(sample))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if format == "onnx":
                names = [f"input{i}" for i in range(len(args))]
                # The TorchScript-based exporter: dynamic batch size, no onnxscript needed.
                torch.onnx.export(
                    self.model,
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=names,
                    output_names=["output"],
                    dynamic_axes={**{n: {0: "batch"} for n in names}, "output": {0: "batch"}},
                )
            elif format == "torchscript":
                traced = torch.jit.trace(self.model, args)
                traced.save(str(tmp))
            else:
                raise ConfigError(f"Unknown export format {format!r}: use 'onnx' or 'torchscript'.")
        tmp.replace(path)
        return path


def load(run_dir: str | Path, *, model: Any = None) -> Predictor:
    """The trained model of a run folder, ready to predict from raw inputs.

    Args:
        run_dir: a folder written by `nnrecipe run` (``model.safetensors`` and ``config.json``).
        model: for a run trained on your own model, that model in its initial state (or
            ``fn(data) -> nn.Module``).

    Raises:
        ConfigError: `run_dir` is not a finished run folder or its files are damaged.
        ModelError: the run used your own model and `model` was not given.
    """
    run_dir = Path(run_dir)
    saved = run_config(run_dir)
    desc = saved.get("data") or {}
    task = task_from_description(desc.get("task"))
    path = run_dir / "model.safetensors"
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} has no model.safetensors: pass a finished run folder.")
    tensors, meta = load_tensors(path)
    shape = desc.get("input_shape")
    shape = (
        tuple(shape)
        if isinstance(shape, list) and all(isinstance(v, int) for v in shape)
        else shape
    )
    n_out = getattr(task, "num_classes", None) or task.output_size()
    stub = _Shape(
        shape, task, desc.get("modality", "tabular"), torch.zeros(max(int(n_out), 2)),
        desc.get("meta"),
    )  # fmt: skip
    net = build_from_meta(meta, stub, model)
    return Predictor(load_weights(net, tensors, path), task, desc)
