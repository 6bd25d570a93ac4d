"""`distribution-shift`: a classifier tells train from valid apart."""

from __future__ import annotations

import torch

import nnrecipe as nr
from audit.audit_synth import make_data


def _shift(modality: str, x: torch.Tensor) -> torch.Tensor:
    if modality == "tabular":
        x = x.clone()
        x[:, :3] += 1.5  # three features moved by ~1.5 standard deviations
        return x
    # brighter and lower-contrast inputs, as from another camera / sensor
    return 0.6 * x + 0.8


def test_shifted_valid_split_is_a_warning(modality):
    data = make_data(modality, 800)
    data.valid.x = _shift(modality, data.valid.x)
    result = nr.audit(data)
    hits = [f for f in result.findings if f.code == "distribution-shift"]
    assert [f.evidence["split"] for f in hits] == ["valid"]
    assert hits[0].severity == "warning" and hits[0].evidence["auc"] >= 0.75
    assert "train-dev" in hits[0].fix
    assert result.stats["shift_auc"]["test"] < 0.75  # the test split was left alone


def test_random_splits_are_not_shifted():
    result = nr.audit(make_data("image", 800))
    assert "distribution-shift" not in result.codes
    assert max(result.stats["shift_auc"].values()) < 0.6
