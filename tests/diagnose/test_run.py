"""The whole recipe tuned and ensembled, its Ng table, and the locked test set's counter."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.diagnose import testset


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iris"
    return nr.run(
        "iris",
        out=str(out),
        epochs=6,
        tune_trials=3,
        tune_epochs=4,
        ensemble=2,
        threads=1,
        quiet=True,
        force=True,
    )


def test_run_tunes_trains_with_the_best_params_ensembles_and_diagnoses(tuned_run) -> None:
    path, summary = tuned_run.path, tuned_run.summary
    tune = json.loads((path / "stages" / "tune.json").read_text())
    assert tune["counts"].get("complete", 0) + tune["counts"].get("pruned", 0) == 3
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["nnrecipe"])
    assert (
        meta["training"]["lr"] == tune["best_params"]["lr"]
    )  # the train stage used the search's best
    ens = summary["ensemble"]
    assert len(ens["members"]) == 2 and ens["members"][0] == tune["best_trial"]
    assert ens["final"] in ("single", "ensemble") and "test" in ens
    assert (path / "ensemble" / "ensemble.json").exists()
    assert summary["diagnosis"]["verdict"] and summary["diagnosis"]["table"]


def test_the_run_evaluates_test_in_one_session_and_a_second_evaluation_warns(tuned_run) -> None:
    path = tuned_run.path
    assert tuned_run.summary["test_evaluations"] == 1
    assert [s["by"] for s in testset.test_evaluations(path)] == [["run:evaluate", "run:ensemble"]]
    assert "test-set-reuse" not in nr.diagnose(path).codes  # reading the summary is no new look
    again = nr.diagnose(path, evaluate=True)
    assert "test-set-reuse" in again.codes and again.stats["test_evaluations"] == 2
    assert again.stats["errors"]["test"] == pytest.approx(1 - tuned_run.summary["test"]["accuracy"])
    cli = CliRunner().invoke(app, ["diagnose", str(path), "--evaluate", "--human-error", "0.02"])
    assert cli.exit_code == 0, cli.output
    assert "test-set-reuse" in cli.output and "verdict:" in cli.output
    assert len(testset.test_evaluations(path)) == 3


def test_ensemble_without_tune_is_refused(tmp_path) -> None:
    with pytest.raises(nr.ConfigError, match="--tune"):
        nr.run(
            "iris", out=str(tmp_path / "r"), epochs=2, ensemble=3, threads=1, quiet=True, force=True
        )


def test_learning_curve_of_a_run_trains_on_growing_subsets(tuned_run) -> None:
    r = nr.diagnose(tuned_run.path, learning_curve=True, epochs=2)
    rows = r.stats["learning_curve"]
    assert [row["n_train"] for row in rows] == sorted(row["n_train"] for row in rows) and len(
        rows
    ) == 4
    assert (tuned_run.path / r.artifacts["learning_curve"]).exists()
