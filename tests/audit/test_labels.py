"""`label-noise` (confident learning) and `class-imbalance`."""

from __future__ import annotations

import numpy as np
import pytest

import nnrecipe as nr
from audit.audit_synth import evidence_indices, make_data, source_indices


def _flip(data: nr.Data, rate: float, seed: int = 0) -> dict[str, list[int]]:
    """Give `rate` of every split's samples another label, chosen at random."""
    rng = np.random.default_rng(seed)
    k = data.num_classes
    flipped = {}
    for name, s in data.splits.items():
        idx = rng.choice(len(s.y), int(round(rate * len(s.y))), replace=False)
        s.y[idx] = (s.y[idx] + 1 + torch_from(rng.integers(0, k - 1, len(idx)))) % k
        flipped[name] = idx.tolist()
    return flipped


def _label_noise(result: nr.Result) -> nr.Finding:
    hits = [f for f in result.findings if f.code == "label-noise"]
    assert hits, [f.message for f in result.findings]
    return hits[0]


@pytest.mark.parametrize("source", ["digits", "image", "sequence", "tabular"])
def test_twenty_percent_label_noise_is_estimated_within_a_factor_of_two(source):
    data = nr.datasets.load("digits") if source == "digits" else make_data(source, 1200)
    flipped = _flip(data, 0.2)
    f = _label_noise(nr.audit(data))
    assert f.severity in ("warning", "error")
    assert 0.1 <= f.evidence["estimated_rate"] <= 0.4, f.evidence["estimated_rate"]
    assert f.evidence["trusted"]
    # most suspects are planted flips, named by source index
    truth = source_indices(data, "train", flipped["train"])
    found = evidence_indices(f, "train")
    assert len(truth & found) / len(found) >= 0.8
    given_vs_predicted = f.evidence["suspects"][0]
    assert given_vs_predicted["given"] != given_vs_predicted["predicted"]


def test_labels_that_a_cheap_model_cannot_learn_are_only_a_hint():
    # random labels: the cheap model is at chance, so its disagreement proves nothing
    data = make_data("tabular", 600)
    rng = np.random.default_rng(0)
    for s in data.splits.values():
        s.y[:] = torch_from(rng.integers(0, 4, len(s.y)))
    f = _label_noise(nr.audit(data))
    assert f.severity == "info" and not f.evidence["trusted"]


def torch_from(a: np.ndarray):
    import torch

    return torch.from_numpy(a)


def test_strong_imbalance_is_a_warning_that_names_the_metric():
    data = make_data("tabular", 1000, classes=2, weights=[0.95, 0.05])
    f = next(f for f in nr.audit(data).findings if f.code == "class-imbalance")
    assert f.severity == "warning"
    assert "balanced accuracy" in f.message and "precision-recall" in f.message
    assert f.evidence["ratio"] > 10


def test_moderate_imbalance_is_info(modality):
    data = make_data(modality, 900, classes=3, weights=[0.7, 0.2, 0.1])
    f = [f for f in nr.audit(data).findings if f.code == "class-imbalance"]
    assert [x.severity for x in f] == ["info"]
    assert "macro-averaged F1" in f[0].message


def test_class_missing_from_a_held_out_split_is_a_warning():
    x = np.random.default_rng(0).standard_normal((400, 5)).astype(np.float32)
    y = np.arange(400) % 4
    data = nr.Data.from_splits(x[:300], y[:300], x[300:][y[300:] != 3], y[300:][y[300:] != 3])
    f = [f for f in nr.audit(data).findings if f.code == "class-imbalance"]
    assert any(x.severity == "warning" and "valid" in x.message for x in f)


def test_random_binary_labels_on_one_feature_are_not_called_label_noise():
    # the cheap model is at chance: removing its disagreements would make it look perfect on the
    # rest, so trust comes from its confidence, not from its accuracy on what it kept
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 1)).astype(np.float32)
    data = nr.Data.from_arrays(x, np.arange(300) % 2, seed=0)
    f = _label_noise(nr.audit(data))
    assert f.severity == "info" and not f.evidence["trusted"]


def test_overlapping_classes_with_clean_labels_are_not_a_warning():
    # two Gaussian classes 2 standard deviations apart: 16% of samples sit across the boundary,
    # honestly labelled; confident learning estimates ~5%, below the warning level
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 1)).astype(np.float32)
    x[:, 0] += 2 * (np.arange(600) % 2)
    result = nr.audit(nr.Data.from_arrays(x, np.arange(600) % 2, seed=0))
    assert [f.severity for f in result.findings if f.code == "label-noise"] in ([], ["info"])


def _swap_look_alikes(data: nr.Data, rate: float, seed: int = 0) -> nr.Data:
    """Swap `rate` of the training labels between look-alike digits (1/7, 3/8, 4/9, 5/6)."""
    pairs = {1: 7, 7: 1, 3: 8, 8: 3, 4: 9, 9: 4, 5: 6, 6: 5}
    y = data.train.y.clone()
    rng = np.random.default_rng(seed)
    idx = [i for i in range(len(y)) if int(y[i]) in pairs]
    for i in rng.choice(idx, int(rate * len(y)), replace=False):
        y[i] = pairs[int(y[i])]
    return nr.Data.from_splits(data.train.x, y, data.valid.x, data.valid.y)


def test_a_few_percent_of_look_alike_swaps_is_a_warning_when_the_model_is_sure():
    data = _swap_look_alikes(nr.datasets.load("digits"), 0.04)
    f = _label_noise(nr.audit(data))
    assert f.severity == "warning" and f.evidence["trusted"], f.message


def test_clean_digits_stay_info():
    result = nr.audit(nr.datasets.load("digits"))
    assert [f.severity for f in result.findings if f.code == "label-noise"] in ([], ["info"])


def test_overlapping_blobs_with_a_few_percent_ambiguity_stay_info():
    # three 5-d blobs 2 std apart: confident learning estimates ~5% at confidence 0.79, overlap
    # rather than wrong labels
    g = np.random.default_rng(0)
    y = g.integers(0, 3, 1500)
    x = (g.standard_normal((1500, 5)) + 2.0 * np.eye(3, 5)[y]).astype(np.float32)
    result = nr.audit(nr.Data.from_arrays(x, y, seed=0))
    assert [f.severity for f in result.findings if f.code == "label-noise"] in ([], ["info"])
