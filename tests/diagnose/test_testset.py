"""The locked test set: evaluations counted per session in the run folder; a second warns."""

from __future__ import annotations

import nnrecipe as nr
from nnrecipe.diagnose import testset


def test_one_session_counts_once_and_a_new_session_counts_again(tmp_path) -> None:
    assert testset.record_test_evaluation(tmp_path, by="run:evaluate", session="run") == 1
    assert testset.record_test_evaluation(tmp_path, by="run:ensemble", session="run") == 1
    assert testset.record_test_evaluation(tmp_path, by="diagnose --evaluate") == 2
    sessions = testset.test_evaluations(tmp_path)
    assert [s["by"] for s in sessions] == [
        ["run:evaluate", "run:ensemble"],
        ["diagnose --evaluate"],
    ]


def test_the_second_evaluation_is_a_test_set_reuse_warning() -> None:
    errors = {"train": 0.01, "valid": 0.02, "test": 0.02}
    assert "test-set-reuse" not in nr.diagnose(errors, test_evaluations=1).codes
    warned = nr.diagnose(errors, test_evaluations=2)
    f = next(f for f in warned.findings if f.code == "test-set-reuse")
    assert f.severity == "warning" and f.evidence["test_evaluations"] == 2
