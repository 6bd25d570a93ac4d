"""`nnrecipe check` and the run's checks stage."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.pipeline import STAGES

runner = CliRunner()


def test_check_command_exits_0_when_nothing_is_an_error(tmp_path):
    res = runner.invoke(app, ["check", "iris", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "no findings" in res.output
    assert (tmp_path / "lr_range.png").stat().st_size > 0


def test_check_command_exits_1_on_errors(tmp_path):
    # Identical inputs with alternating labels: nothing can be learned or memorised.
    csv = tmp_path / "same.csv"
    csv.write_text("a,b,y\n" + "".join(f"1,2,{i % 2}\n" for i in range(60)))
    res = runner.invoke(app, ["check", str(csv), "--target", "y"])
    assert res.exit_code == 1, res.output
    assert "cannot-overfit-batch" in res.output


def test_check_command_exits_2_on_user_errors():
    res = runner.invoke(app, ["check", "no-such-data-set"])
    assert res.exit_code == 2


def test_explain_loss_at_init():
    res = runner.invoke(app, ["explain", "loss-at-init"])
    assert res.exit_code == 0 and "log C" in res.output


def test_checks_stage_runs_between_baselines_and_training():
    names = [s.name for s in STAGES]
    assert names.index("baselines") < names.index("checks") < names.index("train")
    assert next(s for s in STAGES if s.name == "checks").resumable


def test_run_saves_the_checks_result_and_plot(tmp_path):
    result = nr.run("iris", epochs=1, out=str(tmp_path / "run"), quiet=True)
    saved = json.loads((result.path / "stages" / "checks.json").read_text())
    assert saved["stage"] == "checks" and saved["ok"]
    assert saved["artifacts"]["lr_range"] == "checks/lr_range.png"
    assert (result.path / "checks" / "lr_range.png").exists()
