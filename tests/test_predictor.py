"""nr.load(run).predict(...) on raw inputs equals the run's own evaluation; exports match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nnrecipe as nr


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    nr.run("digits", out=str(out), epochs=2, threads=1, quiet=True, force=True)
    return out


def _raw_digits_valid() -> tuple[np.ndarray, np.ndarray, list[int]]:
    import sklearn.datasets

    data = nr.datasets.load("digits")
    bunch = sklearn.datasets.load_digits()
    idx = data.valid.index.numpy()
    return bunch.images[idx].astype(np.float32), bunch.target[idx], idx.tolist()


def test_predict_on_raw_arrays_equals_the_runs_evaluation(digits_run: Path) -> None:
    predictor = nr.load(digits_run)
    x_raw, y, _ = _raw_digits_valid()  # pixels 0..16, as scikit-learn ships them
    labels = predictor.predict(x_raw)
    accuracy = np.mean([int(p) == t for p, t in zip(labels, y, strict=True)])
    summary = (digits_run / "summary.json").read_text()
    import json

    assert accuracy == pytest.approx(json.loads(summary)["valid"]["accuracy"], abs=1e-9)
    assert labels[0] in predictor.classes  # names, not indices


def test_probabilities_sum_to_one(digits_run: Path) -> None:
    x_raw, _, _ = _raw_digits_valid()
    p = nr.load(digits_run).predict(x_raw[:5], proba=True)
    assert p.shape == (5, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_one_sample_and_a_wrong_width_are_understood(digits_run: Path) -> None:
    predictor = nr.load(digits_run)
    x_raw, _, _ = _raw_digits_valid()
    assert len(predictor.predict(x_raw[0])) == 1
    with pytest.raises(nr.DataError, match="trained on samples of shape"):
        predictor.predict(np.zeros((3, 7), dtype=np.float32))


def test_onnx_export_matches_the_model(digits_run: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    predictor = nr.load(digits_run)
    x_raw, _, _ = _raw_digits_valid()
    x = predictor.inputs(x_raw)
    path = predictor.export(tmp_path / "model.onnx", format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    want = predictor.outputs(x, prepared=True).numpy()
    assert np.abs(got - want).max() < 1e-5


def test_torchscript_export_matches_the_model(digits_run: Path, tmp_path: Path) -> None:
    predictor = nr.load(digits_run)
    x = predictor.inputs(_raw_digits_valid()[0])
    scripted = torch.jit.load(str(predictor.export(tmp_path / "m.pt", format="torchscript")))
    assert (scripted(x) - predictor.outputs(x, prepared=True)).abs().max() < 1e-5


def test_image_files_are_decoded_like_the_training_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for c in ("dark", "light"):
        (root / c).mkdir(parents=True)
        for i in range(30):
            base = 40 if c == "dark" else 200
            arr = np.clip(base + rng.normal(0, 20, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    run = tmp_path / "run"
    nr.run(str(root), out=str(run), epochs=2, threads=1, quiet=True, force=True, test=0.0)
    predictor = nr.load(run)
    assert predictor.predict(root / "light" / "3.png") == ["light"]
    assert len(predictor.predict(root)) == 60


def test_a_run_of_your_own_model_needs_it(tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 3)
    run = tmp_path / "own"
    nr.run("iris", model=model, out=str(run), epochs=1, threads=1, quiet=True, force=True)
    with pytest.raises(nr.ModelError, match="pass model="):
        nr.load(run)
    assert len(nr.load(run, model=model).predict(np.zeros((2, 4), dtype=np.float32))) == 2


def test_cli_predict_and_export(digits_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nnrecipe.cli import app

    x_raw, _, _ = _raw_digits_valid()
    np.save(tmp_path / "x.npy", x_raw[:4])
    res = CliRunner().invoke(
        app, ["predict", str(digits_run), str(tmp_path / "x.npy"), "--out", str(tmp_path / "p.csv")]
    )
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 5
    res = CliRunner().invoke(app, ["export", str(digits_run), "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 0 and (tmp_path / "m.onnx").is_file(), res.output
    res = CliRunner().invoke(app, ["export", str(digits_run), "--format", "tflite"])
    assert res.exit_code == 2 and "Unknown export format" in res.output


def test_a_dataframe_with_unseen_and_missing_categories_is_encoded_like_training(
    tmp_path: Path,
) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.normal(size=n),
        }
    )
    df["y"] = ((df["colour"] == "red") ^ (df["size"] > 0)).astype(int)
    df.loc[:10, "colour"] = None
    csv = tmp_path / "t.csv"
    df.to_csv(csv, index=False)
    run = tmp_path / "run"
    nr.run(str(csv), target="y", out=str(run), epochs=3, threads=1, quiet=True, force=True)
    predictor = nr.load(run)
    data = nr.Data.from_csv(csv, target="y")
    rows = df.iloc[data.valid.index.numpy()].drop(columns=["y"])
    want = predictor.outputs(data.valid.x, prepared=True)
    got = predictor.outputs(rows)
    assert torch.allclose(got, want, atol=1e-6)
    new = pd.DataFrame({"colour": ["purple", None], "size": [0.3, np.nan]})  # unseen, missing
    assert len(predictor.predict(new)) == 2
