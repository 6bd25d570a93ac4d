"""Resume of an interrupted training of the issue-11 and later tasks equals an uninterrupted one:
the weights (what model.safetensors holds) are bit-identical. The samplers of these tasks draw
from the Learner's checkpointed generator (few-shot views, skip-gram windows and negatives)."""

from __future__ import annotations

import pytest
import torch

import nnrecipe as nr
from nnrecipe.models import build_model

EPOCHS, STOP = 3, 1

CASES = {
    "distribution": ("diabetes", "distribution", {}),
    "few-shot": ("digits", "few-shot", {}),
    "few-shot-triplet": ("digits", "few-shot", {"objective": "triplet"}),
    "word-vectors": ("lee", "word-vectors", {}),
    "ratings": ("movielens-100k", None, {}),
    "segmentation": ("shapes", None, {}),
}


class _StopAt:
    """Interrupts training at the end of an epoch, after its checkpoint is written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, learner: nr.Learner) -> None:
        if len(learner.history) == self.epoch:
            raise KeyboardInterrupt


def _model(data: nr.Data, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(None, data)


def _learner(model, data, out, **kw) -> nr.Learner:
    return nr.Learner(model, data, quiet=True, threads=1, out=out, patience=None, **kw)


@pytest.mark.slow  # 3 epochs twice per task: 5-40 s each on a loaded 2-core machine
@pytest.mark.parametrize("case", list(CASES))
def test_resume_equals_uninterrupted_training(case: str, tmp_path) -> None:
    name, task, options = CASES[case]
    data = nr.datasets.load(name, task=task, task_options=options or None)
    full = _model(data)
    _learner(full, data, tmp_path / "a").fit(epochs=EPOCHS)

    with pytest.raises(KeyboardInterrupt):
        _learner(_model(data), data, tmp_path / "b", callbacks=[_StopAt(STOP)]).fit(EPOCHS)
    fresh = _model(data, seed=123)  # a different init: resume must overwrite everything
    history = _learner(fresh, data, tmp_path / "b").fit(epochs=EPOCHS, resume=True)
    assert len(history) == EPOCHS
    a, b = full.state_dict(), fresh.state_dict()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{case}: resumed weights differ in {different[:5]}"


RUNS = {
    "distribution": ("diabetes", "distribution"),
    "few-shot": ("digits", "few-shot"),
    "word-vectors": ("lee", "word-vectors"),
    "ratings": ("movielens-100k", None),
    "segmentation": ("shapes", None),
}


@pytest.mark.slow  # three whole runs per task (audit, checks, train, report): 1-3 min each
@pytest.mark.parametrize("case", list(RUNS))
def test_run_resumed_after_an_interrupt_equals_an_uninterrupted_run(
    case: str, tmp_path, monkeypatch
) -> None:
    from safetensors.torch import load_file

    from nnrecipe.train.learner import Learner

    name, task = RUNS[case]
    common = {"task": task, "epochs": EPOCHS, "threads": 1, "quiet": True, "force": True}
    whole = nr.run(name, out=str(tmp_path / "whole"), **common)

    save_last = Learner._save_last

    def interrupt_after_first_epoch(self, gen, epoch):
        save_last(self, gen, epoch)
        if epoch == STOP:
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    with monkeypatch.context() as m:
        m.setattr(Learner, "_save_last", interrupt_after_first_epoch)
        with pytest.raises(nr.NnrecipeError, match="--resume"):
            nr.run(name, out=str(killed), **common)
    resumed = nr.run(name, resume=killed, quiet=True)
    a = load_file(str(whole.path / "model.safetensors"))
    b = load_file(str(resumed.path / "model.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{case}: resumed weights differ in {different[:5]}"
