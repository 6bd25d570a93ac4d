"""Without a human error the diagnosis never assumes 0: bias is judged from the baselines, and
there is one next step at a time."""

from __future__ import annotations

import nnrecipe as nr


def _warnings(result: nr.Result) -> list[str]:
    return [f.code for f in result.at_least("warning")]


def test_a_model_no_better_than_the_linear_baseline_underfits() -> None:
    r = nr.diagnose(
        {"train": 0.15, "valid": 0.16},
        sizes={"train": 2000, "valid": 500},
        baseline_errors={"linear": 0.15},
    )
    assert r.stats["verdict"] == "avoidable-bias" and not r.stats["human_known"]
    assert "human" not in r.stats["errors"]
    assert "human-level error unknown" in r.at_least("warning")[0].message


def test_a_model_that_fits_better_than_the_baseline_has_no_assumed_bias() -> None:
    # Diabetes-like: the network fits train far better than linear, and generalises worse.
    r = nr.diagnose(
        {"train": 0.05, "valid": 0.30},
        sizes={"train": 300, "valid": 90},
        baseline_errors={"linear": 0.25},
    )
    assert _warnings(r) == ["variance"]


def test_without_baselines_avoidable_bias_is_unknown_not_zero() -> None:
    r = nr.diagnose({"train": 0.2, "valid": 0.21}, sizes={"train": 5000, "valid": 5000})
    assert "avoidable-bias" not in {f.code for f in r}
    assert all(row["code"] != "avoidable-bias" for row in r.stats["table"])


def test_two_significant_gaps_give_one_warning_and_one_note() -> None:
    r = nr.diagnose(
        {"human": 0.0, "train": 0.10, "valid": 0.25}, sizes={"train": 5000, "valid": 5000}
    )
    assert _warnings(r) == ["variance"]  # the larger gap
    notes = [f for f in r if f.code == "avoidable-bias"]
    assert notes and notes[0].severity == "info" and "revisit it after" in notes[0].message


def _rows(errors: dict[str, float], baselines: dict[str, float]) -> list[dict]:
    from nnrecipe.diagnose.checks import DiagnosisContext, gap_rows
    from nnrecipe.tasks import TASKS

    task = TASKS["few-shot"]
    ctx = DiagnosisContext(
        errors,
        sizes={"train": 900, "valid": 2000, "test": 2000},
        human_known=False,
        baselines=baselines,
        train_comparable=task.train_error_comparable,
    )
    return gap_rows(ctx)


def test_few_shot_judges_bias_on_the_unseen_classes_and_shows_no_variance() -> None:
    # Episodes on the training classes are another problem than on unseen ones (supcon on
    # digits: 0.53 vs 0.75): the train row must not read as underfitting or as variance.
    rows = _rows({"train": 0.47, "valid": 0.10, "test": 0.11}, {"input-space": 0.28})
    assert [r["code"] for r in rows] == ["avoidable-bias", "overfit-to-valid"]
    bias = rows[0]
    assert bias["to"] == "valid" and not bias["significant"]
    # ... and a model no better than the input-space baseline on unseen classes underfits.
    rows = _rows({"train": 0.05, "valid": 0.29, "test": 0.29}, {"input-space": 0.28})
    assert rows[0]["code"] == "avoidable-bias" and rows[0]["significant"]
