"""Augmentation: shapes kept, strength 0 is off, randomness from torch's seeded generator."""

from __future__ import annotations

import pytest
import torch

import nnrecipe as nr
from nnrecipe.tune.augment import SignalAugment, make_augment


@pytest.mark.parametrize(
    "modality,shape", [("image", (5, 1, 8, 8)), ("sequence", (5, 2, 40)), ("tabular", (5, 7))]
)
def test_augmenters_keep_shape_change_values_and_are_seeded(modality, shape) -> None:
    aug = make_augment(modality, 0.8)
    x = torch.randn(shape)
    torch.manual_seed(0)
    a = aug(x)
    torch.manual_seed(0)
    b = aug(x)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_strength_zero_or_none_means_no_augmentation_and_bad_strength_raises() -> None:
    assert make_augment("image", 0) is None and make_augment("sequence", None) is None
    with pytest.raises(nr.ConfigError, match="strength"):
        make_augment("image", 1.5)


def test_signal_shift_moves_a_spike_by_at_most_ten_percent_of_the_length() -> None:
    x = torch.zeros(64, 1, 40)
    x[:, 0, 20] = 1.0  # one spike per sample
    torch.manual_seed(1)
    y = SignalAugment(1.0)(x)  # shift up to round(0.1 * 40) = 4 samples, gain 1 +- 0.2, noise 0.1
    peaks = y[:, 0].argmax(dim=1)
    assert ((peaks - 20).abs() <= 4).all()
    assert len(set(peaks.tolist())) > 3  # the shift differs between samples
