"""A run trained on the user's own model is rebuilt from that model, never the built-in one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nnrecipe as nr
from nnrecipe.schema import Summary, read_typed


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    out = tmp_path_factory.mktemp("runs") / "iris-own"
    nr.run("iris", model=model, out=str(out), epochs=3, threads=1, quiet=True, force=True)
    return out, model


def test_evaluate_without_the_model_says_to_pass_it(user_run) -> None:
    run, _ = user_run
    with pytest.raises(nr.ModelError, match="used your own model: pass model="):
        nr.diagnose(run, evaluate=True)


def test_evaluate_with_the_model_rescores_the_saved_weights(user_run) -> None:
    run, model = user_run
    result = nr.diagnose(run, evaluate=True, model=model)
    summary = read_typed(run / "summary.json", Summary)
    # The rescored valid error is the saved model's, not a rebuilt built-in MLP's.
    assert result.stats["errors"]["valid"] == pytest.approx(summary.valid["error"], abs=1e-6)


def test_learning_curve_refuses_to_plot_a_built_in_model_for_a_user_run(user_run) -> None:
    run, _ = user_run
    with pytest.raises(nr.ModelError, match="used your own model"):
        nr.diagnose(run, learning_curve=True, epochs=1)


def test_a_damaged_summary_is_one_sentence_naming_the_file(tmp_path: Path, user_run) -> None:
    import shutil

    run = Path(shutil.copytree(user_run[0], tmp_path / "copy"))
    (run / "summary.json").write_text("[1, 2, 3]")
    with pytest.raises(nr.ConfigError, match="summary.json"):
        nr.diagnose(run)
