"""Search spaces: dict specs are validated, suggested through Optuna, and gridded."""

from __future__ import annotations

import optuna
import pytest

import nnrecipe as nr
from nnrecipe.tune.space import default_space, grid, normalize_space, split_params, suggest


def test_dict_space_suggests_within_bounds_and_types() -> None:
    space = {
        "lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "depth": {"low": 1, "high": 3},
        "width": [8, 16],
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = suggest(study.ask(), space)
        assert 1e-4 <= params["lr"] <= 1e-1
        assert isinstance(params["depth"], int) and 1 <= params["depth"] <= 3
        assert params["width"] in (8, 16)


def test_grid_defaults_to_three_points_or_all_small_int_values() -> None:
    g = grid(
        {
            "lr": {"low": 1e-4, "high": 1e-2, "log": True},
            "depth": {"low": 1, "high": 3},
            "w": [4, 8],
        }
    )
    assert g["lr"] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert g["depth"] == [1, 2, 3] and g["w"] == [4, 8]


@pytest.mark.parametrize(
    "bad",
    [
        {"lr": {"low": 1.0, "high": 0.1}},
        {"lr": {"low": 0.0, "high": 1.0, "log": True}},
        {"lr": 3},
        {"lr": {"low": 1}},
        {"w": []},
        {},
    ],
)
def test_bad_spaces_raise_config_errors(bad) -> None:
    with pytest.raises(nr.ConfigError):
        normalize_space(bad)


def test_default_spaces_exist_for_every_builtin_model_and_split_into_training_and_model() -> None:
    for name in ("linear", "mlp", "cnn1d", "cnn2d"):
        normalize_space(default_space(name))
    training, model = split_params({"lr": 0.1, "augment": 0.5, "width": 8, "kernel": 5})
    assert training == {"lr": 0.1, "augment": 0.5} and model == {"width": 8, "kernel": 5}
    with pytest.raises(nr.ConfigError, match="No default search space"):
        default_space("resnet50")
