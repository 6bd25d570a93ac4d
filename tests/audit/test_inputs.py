"""`non-finite`, `constant-feature`, `corrupt-sample`, `outliers` on planted problems."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nnrecipe as nr
from audit.audit_synth import evidence_indices, make_arrays, make_data, source_indices


def _only(result: nr.Result, code: str) -> list[nr.Finding]:
    hits = [f for f in result.findings if f.code == code]
    assert hits, f"no {code}: {[f.code + ': ' + f.message for f in result.findings]}"
    return hits


def test_nan_and_inf_inputs_are_errors_naming_the_samples(modality):
    data = make_data(modality)
    data.train.x[3].view(-1)[0] = float("nan")
    data.valid.x[1].view(-1)[-1] = float("inf")
    result = nr.audit(data)
    (f,) = _only(result, "non-finite")
    assert f.severity == "error" and not result.ok
    assert evidence_indices(f, "train") == source_indices(data, "train", [3])
    assert evidence_indices(f, "valid") == source_indices(data, "valid", [1])
    # the other checks still ran on the rest of the data
    assert "shift_auc" in result.stats


def test_constant_table_column_is_info_naming_it():
    # A column constant everywhere costs a model nothing (issue 16: flattened digits with blank
    # border pixels were warned about, the same images as 1x8x8 were not).
    x, y = make_arrays("tabular", 600)
    x[:, 2] = 5.0
    names = [f"col{i}" for i in range(x.shape[1])]
    data = nr.Data.from_arrays(x, y, feature_names=names, seed=0)
    (f,) = _only(nr.audit(data), "constant-feature")
    assert f.severity == "info" and f.evidence["positions"] == ["col2"]


def test_flattened_images_with_blank_borders_are_info_like_the_images():
    x, y = make_arrays("image", 600)
    x[:, :, 0, :] = 0.0
    flat = nr.Data.from_arrays(x.reshape(len(x), -1), y, seed=0, modality="tabular")
    (f,) = _only(nr.audit(flat), "constant-feature")
    assert f.severity == "info"


def test_column_constant_in_train_but_changed_in_valid_is_a_warning():
    x, y = make_arrays("tabular", 600)
    x[:, 2] = 5.0
    data = nr.Data.from_arrays(x, y, seed=0)
    xv = data.valid.x.clone()
    xv[:, 2] = torch.randn(len(xv))  # the valid pipeline fills the column, train's does not
    data = nr.Data.from_splits(data.train.x, data.train.y, xv, data.valid.y)
    (f,) = _only(nr.audit(data), "constant-feature")
    assert f.severity == "warning" and f.evidence["changed_share_elsewhere"] > 0.5


@pytest.mark.parametrize("modality", ["image", "sequence"])
def test_constant_channel_is_a_warning(modality):
    x, y = make_arrays(modality, 600, channels=2)
    x[:, 1] = 0.25
    data = nr.Data.from_arrays(x, y, seed=0, modality=modality)
    (f,) = _only(nr.audit(data), "constant-feature")
    assert f.severity == "warning" and f.evidence["constant_channels"] == [1]


def test_constant_border_pixels_are_info_only():
    x, y = make_arrays("image", 600)
    x[:, :, 0, :] = 0.0  # a blank top row, as in MNIST
    data = nr.Data.from_arrays(x, y, seed=0)
    (f,) = _only(nr.audit(data), "constant-feature")
    assert f.severity == "info" and f.evidence["constant"] == 12


def test_missing_indicator_columns_of_csv_tables_are_not_constant_features(tmp_path):
    x, y = make_arrays("tabular", 300)
    rows = ["a,b,c,d,e,f,g,h,target"] + [
        ",".join(f"{v:.4f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)
    ]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    data = nr.Data.from_csv(tmp_path / "t.csv", target="target")
    assert "constant-feature" not in nr.audit(data).codes


def test_empty_samples_are_corrupt(modality):
    data = make_data(modality)
    data.train.x[[4, 9]] = -0.5  # blank images, flat signals, rows of one value
    (f,) = _only(nr.audit(data), "corrupt-sample")
    assert f.severity == "warning"
    assert set(f.evidence["empty"]["indices"]["train"]) == source_indices(data, "train", [4, 9])


def test_unreadable_files_skipped_by_the_loader_are_errors_naming_the_file(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(20):
            img = (rng.random((10, 10)) * 120 + (100 if c == "b" else 0)).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / c / f"{i}.png")
    broken = tmp_path / "a" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    data = nr.Data.from_folder(tmp_path, skip_corrupt=True, seed=0)
    result = nr.audit(data)
    f = result.findings[0]  # errors first, the unreadable file before anything else
    assert f.code == "corrupt-sample" and f.severity == "error"
    assert str(broken) in f.message and f.evidence["files"] == [str(broken)]


def test_planted_outliers_are_found(modality):
    data = make_data(modality, 800)
    gen = torch.Generator().manual_seed(0)
    far = [10, 50, 90, 130, 170, 210, 250, 290]
    x = data.train.x
    # mis-scaled or garbage samples: 8x the values, or pure noise at 5x the data's spread
    x[far[:4]] = x[far[:4]] * 8
    x[far[4:]] = 5 * float(x.std()) * torch.randn(x[far[4:]].shape, generator=gen)
    f = next(f for f in _only(nr.audit(data), "outliers") if f.evidence["split"] == "train")
    assert f.severity == "warning"
    found = evidence_indices(f, "train")
    truth = source_indices(data, "train", far)
    assert len(truth & found) >= 7 and len(found - truth) <= 2


def test_odd_image_files_are_info_with_their_names(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(20):
            img = (rng.random((16, 16)) * 120 + (100 if c == "b" else 0)).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / c / f"{i}.png")
    Image.fromarray(np.zeros((16, 48), np.uint8)).save(tmp_path / "a" / "wide.png")
    Image.fromarray(np.zeros((16, 16, 4), np.uint8) + 50, mode="RGBA").save(
        tmp_path / "b" / "rgba.png"
    )
    data = nr.Data.from_folder(tmp_path, seed=0)
    result = nr.audit(data)
    f = next(f for f in result.findings if f.code == "corrupt-sample" and "differ" in f.message)
    assert f.severity == "info"
    files = {p for v in f.evidence["samples"]["files"].values() for p in v}
    assert files == {str(tmp_path / "a" / "wide.png"), str(tmp_path / "b" / "rgba.png")}
    assert result.stats["source_images"]["sizes"]["16x16"] == 41
