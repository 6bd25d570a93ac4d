"""Every data source, task and modality inference, and the data errors a user can cause."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

import nnrecipe as nr
from nnrecipe.errors import DataError


def _xy(
    n: int = 200, classes: int = 3, features: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, features)).astype(np.float32) + y[:, None]
    return x, y


def test_from_arrays_splits_are_disjoint_complete_and_stratified() -> None:
    x, y = _xy(300, classes=3)
    data = nr.Data.from_arrays(x, y, valid=0.2, test=0.1, train_dev=0.1, seed=0)
    idx = torch.cat([s.index for s in data.splits.values()])
    assert sorted(idx.tolist()) == list(range(300))
    assert {k: len(s) for k, s in data.splits.items()} == {
        "train": 180,
        "valid": 60,
        "test": 30,
        "train_dev": 30,
    }
    for s in data.splits.values():
        counts = torch.bincount(s.y, minlength=3)
        assert counts.max() - counts.min() <= 1  # stratified: classes stay balanced
    assert data.task.name == "classification" and data.task.num_classes == 3
    assert data.modality == "tabular"


def test_from_arrays_is_seeded() -> None:
    x, y = _xy()
    a = nr.Data.from_arrays(x, y, seed=1)
    b = nr.Data.from_arrays(x, y, seed=1)
    c = nr.Data.from_arrays(x, y, seed=2)
    assert torch.equal(a.valid.index, b.valid.index)
    assert not torch.equal(a.valid.index, c.valid.index)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    ("y", "kind", "name"),
    [
        (np.arange(100) % 2, "classification", "binary"),
        (np.arange(100) % 7, "classification", "multiclass"),
        (np.linspace(0, 1, 100).astype(np.float32), "regression", "regression"),
    ],
)
def test_task_is_inferred_from_targets(y: np.ndarray, kind: str, name: str) -> None:
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    data = nr.Data.from_arrays(x, y)
    assert (data.task.name, getattr(data.task, "kind_label", data.task.name)) == (kind, name)


def test_bce_loss_with_float_targets_means_binary_classification() -> None:
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    y = (np.arange(100) % 2).astype(np.float32)
    data = nr.Data.coerce((x[:80], y[:80], x[80:], y[80:]), loss=torch.nn.BCEWithLogitsLoss())
    assert data.task.name == "classification"
    assert data.task.num_classes == 2


@pytest.mark.parametrize(
    ("shape", "modality", "stored"),
    [
        ((50, 4), "tabular", (4,)),
        ((50, 2, 16), "sequence", (2, 16)),
        ((50, 3, 8, 8), "image", (3, 8, 8)),
    ],
)
def test_modality_is_inferred_from_input_shape(shape: tuple, modality: str, stored: tuple) -> None:
    x = np.zeros(shape, dtype=np.float32)
    data = nr.Data.from_arrays(x, np.arange(50) % 2)
    assert data.modality == modality and data.input_shape == stored


def test_image_modality_override_adds_channel() -> None:
    data = nr.Data.from_arrays(
        np.zeros((40, 6, 6), np.float32), np.arange(40) % 2, modality="image"
    )
    assert data.input_shape == (1, 6, 6)


def test_from_datasets_in_memory_and_streamed_agree() -> None:
    x, y = _xy(120)
    ds = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    mem = nr.Data.from_datasets(ds, seed=0)
    stream = nr.Data.from_datasets(ds, seed=0, in_memory=False)
    assert mem.train.in_memory and not stream.train.in_memory
    assert len(mem.train) + len(mem.valid) == 120 == len(stream.train) + len(stream.valid)
    xb, yb = next(stream.train.batches(16))
    assert xb.shape == (16, 5) and yb.shape == (16,)
    assert stream.task.name == mem.task.name == "classification"


def _write_images(root, classes=("cat", "dog"), per_class=12, size=(10, 12)) -> None:
    rng = np.random.default_rng(0)
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for j in range(per_class):
            arr = (rng.random((size[1], size[0], 3)) * 60 + i * 150).astype(np.uint8)
            Image.fromarray(arr).save(root / c / f"{j}.png")


def test_from_folder_reads_classes_resizes_and_normalizes(tmp_path) -> None:
    _write_images(tmp_path)
    data = nr.Data.from_folder(tmp_path, size=8, valid=0.25, test=0.25)
    assert data.classes == ["cat", "dog"]
    assert data.input_shape == (3, 8, 8) and data.modality == "image"
    assert sum(len(s) for s in data.splits.values()) == 24
    assert abs(float(data.train.x.mean())) < 1e-4  # standardised with training statistics
    assert len(data.meta["files"]["train"]) == len(data.train)


def test_from_folder_uses_train_valid_subfolders(tmp_path) -> None:
    _write_images(tmp_path / "train")
    _write_images(tmp_path / "val", per_class=3)
    data = nr.Data.from_folder(tmp_path)
    assert len(data.train) == 24 and len(data.valid) == 6 and data.test is None


def test_from_folder_corrupt_image_is_an_error_or_skipped(tmp_path) -> None:
    _write_images(tmp_path)
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="broken.png"):
        nr.Data.from_folder(tmp_path)
    data = nr.Data.from_folder(tmp_path, skip_corrupt=True)
    assert [p.endswith("broken.png") for p in data.meta["corrupt_files"]] == [True]


def test_from_folder_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        nr.Data.from_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="No images"):
        nr.Data.from_folder(tmp_path)


def test_from_csv_encodes_and_standardizes_with_train_statistics(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 200
    import pandas as pd

    df = pd.DataFrame(
        {
            "size": rng.normal(100, 20, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "label": np.where(rng.random(n) > 0.5, "yes", "no"),
        }
    )
    df.loc[3, "size"] = np.nan
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    data = nr.Data.from_csv(path, target="label", seed=0)
    assert data.task.name == "classification" and data.classes == ["no", "yes"]
    # Categories become codes for the embedding model; the indicator only where values miss.
    assert data.feature_names == ["color", "size", "size__missing"]
    train_size = data.train.x["cont"][:, 0]
    assert abs(float(train_size.mean())) < 1e-4 and abs(float(train_size.std()) - 1) < 0.01
    assert (
        abs(float(data.valid.x["cont"][:, 0].mean())) > 1e-4
    )  # valid is scaled with train stats, not its own
    missing = sum(float(s.x["cont"][:, 1].sum()) for s in data.splits.values())
    assert missing == 1.0


def test_from_csv_regression_and_errors(tmp_path) -> None:
    import pandas as pd

    path = tmp_path / "r.csv"
    pd.DataFrame({"a": np.arange(50.0), "y": np.arange(50.0) * 0.5 + 0.25}).to_csv(
        path, index=False
    )
    assert nr.Data.from_csv(path, target="y").task.name == "regression"
    with pytest.raises(DataError, match="no column 'label'"):
        nr.Data.from_csv(path, target="label")
    with pytest.raises(DataError, match="does not exist"):
        nr.Data.from_csv(tmp_path / "missing.csv", target="y")


@pytest.mark.parametrize("name", ["digits", "mnist1d", "breast_cancer", "wine", "iris", "diabetes"])
def test_builtin_datasets_load_offline(name: str) -> None:
    data = nr.datasets.load(name)
    assert len(data.train) > len(data.valid) > 0 and data.test is not None
    assert abs(float(data.train.x.mean())) < 1e-3
    expected = {"digits": "image", "mnist1d": "sequence", "diabetes": "tabular"}.get(
        name, "tabular"
    )
    assert data.modality == expected


def test_user_errors_say_what_is_wrong() -> None:
    x, y = _xy(50)
    with pytest.raises(DataError, match="50 inputs but 49 targets"):
        nr.Data.from_arrays(x, y[:49])
    y_nan = np.linspace(0, 1, 50).astype(np.float32)
    y_nan[7] = np.nan
    with pytest.raises(DataError, match="NaN/Inf.*sample 7"):
        nr.Data.from_arrays(x, y_nan)
    with pytest.raises(DataError, match="single class"):
        nr.Data.from_arrays(x, np.zeros(50, dtype=np.int64))
    with pytest.raises(DataError, match="empty"):
        nr.Data.from_arrays(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(DataError, match="Unknown data set 'nope'"):
        nr.datasets.load("nope")
    with pytest.raises(DataError, match="0..C-1"):
        nr.Data.from_arrays(x, y - 1)


def test_download_sets_fail_clearly_when_offline(monkeypatch) -> None:
    import torchvision

    class Offline:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(DataError, match="needs internet.*offline, use 'digits' or 'mnist1d'"):
        nr.datasets.load("mnist")


def test_large_folders_stream_from_disk_and_match_the_in_memory_split(tmp_path) -> None:
    _write_images(tmp_path, per_class=20, size=(12, 12))
    mem = nr.Data.from_folder(tmp_path, size=8, seed=1)
    stream = nr.Data.from_folder(tmp_path, size=8, seed=1, in_memory=False)
    assert mem.train.in_memory and not stream.train.in_memory
    for k in mem.splits:
        assert mem.meta["files"][k] == stream.meta["files"][k]
        assert torch.equal(mem.splits[k].index, stream.splits[k].index)
        assert torch.equal(mem.splits[k].y, stream.splits[k].y)
    xs, ys = stream.valid.tensors()
    assert xs.shape == mem.valid.x.shape and torch.equal(ys, mem.valid.y)
    # PIL's and torchvision's bilinear resizing differ slightly; the normalised images agree
    assert float((xs - mem.valid.x).abs().mean()) < 0.1
    learner = nr.Learner(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64, 2)),
        stream,
        quiet=True,
        threads=1,
    )
    learner.fit(epochs=3)
    assert learner.evaluate("valid")["accuracy"] == 1.0  # the classes differ in colour


def test_split_index_points_back_to_the_source_files(tmp_path) -> None:
    _write_images(tmp_path, per_class=10)
    data = nr.Data.from_folder(tmp_path, seed=0)
    listed = sorted(str(p) for p in tmp_path.rglob("*.png"))
    for k, split in data.splits.items():
        assert [listed[i] for i in split.index.tolist()] == data.meta["files"][k]


def test_streamed_folder_skips_unreadable_files_or_names_them(tmp_path) -> None:
    _write_images(tmp_path)
    (tmp_path / "dog" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    data = nr.Data.from_folder(tmp_path, in_memory=False, skip_corrupt=True)
    assert [p.endswith("zz_broken.png") for p in data.meta["corrupt_files"]] == [True]
    assert sum(len(s) for s in data.splits.values()) == 24
    unchecked = nr.Data.from_folder(tmp_path, in_memory=False, valid=0.2, test=0.0, seed=0)
    split = next(
        s
        for k, s in unchecked.splits.items()
        if any("zz_broken" in f for f in unchecked.meta["files"][k])
    )
    with pytest.raises(
        DataError, match="^Cannot read image .*zz_broken.png.*remove or replace"
    ) as e:
        split.tensors()
    assert "Traceback" not in str(e.value)
