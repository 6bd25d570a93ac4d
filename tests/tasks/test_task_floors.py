"""below-baseline compares a trained model with its task's own baselines (`Task.baselines` and
`Task.baselines_to_beat`), not with majority / linear alone."""

from __future__ import annotations

import pytest

import nnrecipe as nr
from nnrecipe.tasks import TASKS


def _task(data: str, task: str) -> nr.tasks.Task:
    return nr.datasets.load(data, task=task).task


def test_each_task_names_its_own_floors() -> None:
    assert set(_task("diabetes", "distribution").baselines_to_beat()) == {
        "climatology",
        "point-estimate",
    }
    # A classifier's penultimate layer competes with the embedding; it is no floor.
    assert set(_task("digits", "few-shot").baselines_to_beat()) == {"input-space", "untrained"}
    assert set(TASKS["classification"].baselines_to_beat(_task("iris", "classification"))) == {
        "majority",
        "linear",
    }


@pytest.mark.slow  # a whole run (audit, checks, 1 epoch, report): 20-40 s on 2 loaded cores
@pytest.mark.parametrize(("data", "task", "floor"), [("digits", "few-shot", "input-space")])
def test_an_untrained_model_is_below_its_tasks_baseline(tmp_path, data, task, floor) -> None:
    # lr 1e-7 for 1 epoch leaves the init: 5-way 1-shot ~0.6 on digits 5-9, input space 0.72.
    result = nr.run(
        data,
        task=task,
        epochs=1,
        lr=1e-7,
        out=str(tmp_path / "r"),
        quiet=True,
        threads=1,
        force=True,
    )
    below = [f for f in result.findings if f.code == "below-baseline"]
    assert any(floor in f.evidence for f in below), [f.message for f in below]
