"""`duplicates` and `split-leakage`: planted copies are found and named by source index."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnrecipe as nr
from audit.audit_synth import evidence_indices, make_data, noisy_copy, source_indices

# "Small noise" on near copies: images and signals get 3% of the sample's spread (they are
# compared by correlation), table rows 1% of each feature's standard deviation.
NOISE = {"image": 0.03, "sequence": 0.03, "tabular": 0.01}


def _scale(data: nr.Data):
    return data.train.x.std(dim=0) if data.modality == "tabular" else None


def _plant_leaks(data: nr.Data, split: str, frac: float, noise: float, seed: int) -> list[int]:
    """Overwrite `frac` of `split` with copies of train samples (half exact, half noisy)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    held, train = data.splits[split], data.train
    n = max(4, int(frac * len(held)))
    dst = rng.choice(len(held), n, replace=False)
    src = rng.choice(len(train), n, replace=False)
    for i, (d, s) in enumerate(zip(dst, src, strict=True)):
        x = train.x[s].clone()
        held.x[d] = x if i % 2 == 0 else noisy_copy(x, noise, gen, _scale(data))
        held.y[d] = train.y[s]
    return dst.tolist()


def _finding(result: nr.Result, code: str, **where):
    hits = [
        f
        for f in result.findings
        if f.code == code and all(f.evidence.get(k) == v for k, v in where.items())
    ]
    assert hits, f"no {code} finding with {where}: {[f.message for f in result.findings]}"
    return hits[0]


def test_planted_leaks_exact_and_noisy_are_found_with_high_recall(modality):
    data = make_data(modality, 1000)
    planted = {
        s: _plant_leaks(data, s, 0.1, NOISE[modality], seed=i)
        for i, s in enumerate(("valid", "test"))
    }
    result = nr.audit(data)
    for split, positions in planted.items():
        f = _finding(result, "split-leakage", splits=["train", split])
        truth = source_indices(data, split, positions)
        found = evidence_indices(f, split)
        recall = len(truth & found) / len(truth)
        precision = len(truth & found) / len(found)
        assert recall >= 0.95 and precision >= 0.9, (split, recall, precision)
        assert f.severity == "error"  # 10% of the held-out split is memorised
        assert f.evidence["exact_groups"] >= len(positions) // 2


def test_leak_evidence_names_source_indices_of_both_splits():
    x = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)
    y = np.arange(300) % 2
    data = nr.Data.from_arrays(x, y, valid=0.2, test=0.0, seed=0)
    # the source row 7 is in train, row j in valid: make row j an exact copy of row 7
    src = int(data.train.index[0])
    j = int(data.valid.index[0])
    data.valid.x[0] = data.train.x[0]
    data.valid.y[0] = data.train.y[0]
    result = nr.audit(data)
    f = _finding(result, "split-leakage", splits=["train", "valid"])
    assert f.evidence["samples"]["indices"] == {"train": [src], "valid": [j]}
    assert f.severity == "info"  # one sample is worth a look, not a stop


def test_duplicates_within_train_are_grouped(modality):
    data = make_data(modality, 800)
    rng, gen = np.random.default_rng(1), torch.Generator().manual_seed(1)
    train = data.train
    src = rng.choice(len(train) // 2, 12, replace=False)
    dst = len(train) // 2 + rng.choice(len(train) - len(train) // 2, 12, replace=False)
    for i, (s, d) in enumerate(zip(src, dst, strict=True)):
        noisy = noisy_copy(train.x[s].clone(), NOISE[modality], gen, _scale(data))
        train.x[d] = train.x[s] if i % 2 else noisy
        train.y[d] = train.y[s]
    result = nr.audit(data)
    f = _finding(result, "duplicates", split="train")
    assert f.severity == "warning"  # 12 redundant copies in ~560 samples: 2%
    assert f.evidence["groups"] == 12 and f.evidence["conflicting_labels"] == 0
    named = {m["index"] for g in f.evidence["group_members"] for m in g}
    assert source_indices(data, "train", list(src) + list(dst)) == named


def test_copies_with_conflicting_labels_are_a_warning_even_when_few():
    data = make_data("tabular", 600)
    train = data.train
    train.x[5] = train.x[4]
    train.y[5] = (train.y[4] + 1) % 4
    result = nr.audit(data)
    f = _finding(result, "duplicates", split="train")
    assert f.severity == "warning" and f.evidence["conflicting_labels"] == 1
    assert "conflicting labels" in f.message


def test_distinct_but_similar_samples_are_not_copies():
    # digits: the closest distinct pair is at distance 0.107, above the 0.08 radius
    result = nr.audit(nr.datasets.load("digits"))
    assert not {"duplicates", "split-leakage"} & result.codes


@pytest.mark.parametrize("noise", [0.2])
def test_heavily_noised_copies_are_not_called_copies(noise):
    data = make_data("image", 600)
    gen = torch.Generator().manual_seed(0)
    data.valid.x[:10] = noisy_copy(data.train.x[:10].clone(), noise, gen)
    assert "split-leakage" not in nr.audit(data).codes
