"""Regularization knobs: channel (spatial) dropout for conv nets; the trials table renders."""

from __future__ import annotations

import optuna
import torch

import nnrecipe as nr
from nnrecipe.models import build_model


def test_spatial_dropout_drops_whole_channels_and_keeps_the_checkpoint_layout() -> None:
    data = nr.Data.from_arrays(torch.randn(40, 1, 8, 8), torch.arange(40) % 2, test=0.0)
    with_sd = build_model("cnn2d", data, spatial_dropout=0.5, depth=1)
    without = build_model("cnn2d", data, depth=1)
    assert with_sd.state_dict().keys() == without.state_dict().keys()
    h = torch.ones(8, 32, 4, 4)
    with_sd.train()
    out = with_sd.spatial(h)  # (B, C, H, W): each channel all kept (x2) or all zero
    per_channel = out.flatten(2)
    assert ((per_channel == 0).all(2) | (per_channel == 2).all(2)).all()
    assert (per_channel == 0).any() and without.spatial is None
    with_sd.eval()
    assert torch.equal(with_sd.spatial(h), h)


def test_trials_table_shows_states_values_and_the_best() -> None:
    from rich.console import Console

    from nnrecipe.tune.display import TrialsDisplay

    study = optuna.create_study()
    for x in (0.3, 0.1, 0.2):
        t = study.ask()
        t.suggest_float("lr", 1e-3, 1.0, log=True)
        study.tell(t, x)
    t = study.ask()
    t.suggest_float("lr", 1e-3, 1.0, log=True)
    study.tell(t, state=optuna.trial.TrialState.PRUNED)
    console = Console(width=120, record=True)
    console.print(TrialsDisplay(10)._render(study.get_trials()))
    text = console.export_text()
    assert "1 ★" in text and "pruned" in text and "4/10" in text and "0.1" in text
