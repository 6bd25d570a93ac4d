"""`nr.run` / `nnrecipe run`: the run folder, the demo's accuracy, and exact resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import nnrecipe as nr
from nnrecipe.pipeline import incomplete_dir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> nr.pipeline.RunResult:
    out = tmp_path_factory.mktemp("runs") / "digits"
    return nr.run("digits", out=str(out), quiet=True, threads=1)


def test_digits_run_beats_baselines_and_reaches_97_percent(digits_run) -> None:
    summary = json.loads((digits_run.path / "summary.json").read_text())
    test_acc = summary["test"]["accuracy"]
    assert test_acc >= 0.97
    assert (
        summary["valid"]["accuracy"]
        > summary["baselines"]["models"]["majority"]["valid"]["accuracy"]
    )
    assert (
        summary["valid"]["accuracy"] > summary["baselines"]["models"]["linear"]["valid"]["accuracy"]
    )
    assert isinstance(summary["best_epoch"], int) and summary["test_evaluations"] == 1
    assert summary["baselines"]["expected_loss_at_init"] == pytest.approx(np.log(10), rel=0.01)


def test_run_folder_has_everything_to_rerun(digits_run) -> None:
    path = digits_run.path
    config = json.loads((path / "config.json").read_text())
    assert config["config"]["data"] == "digits" and config["seed"] == 0
    assert {"torch", "numpy", "python"} <= set(config["versions"])
    assert len(config["data"]["fingerprint"]) == 16
    rows = list(csv.DictReader((path / "metrics.csv").open()))
    assert rows and {"epoch", "train_loss", "valid_loss", "valid_accuracy", "lr", "seconds"} <= set(
        rows[0]
    )
    assert load_file(str(path / "model.safetensors"))
    for plot in ("loss.png", "accuracy.png", "confusion_valid.png"):
        assert (path / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert not incomplete_dir(path).exists()


def test_existing_run_folder_is_not_overwritten(digits_run) -> None:
    with pytest.raises(nr.ConfigError, match="already exists"):
        nr.run("digits", out=str(digits_run.path), quiet=True)


def test_config_file_and_csv_regression(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 2 * x[:, 0] - x[:, 1] + 10}
    ).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "r.toml").write_text(
        f'data = "{tmp_path / "t.csv"}"\ntarget = "y"\nepochs = 15\nthreads = 1\nout = "{tmp_path / "run"}"\nforce = true\n'
    )
    from nnrecipe.config import load_config_file

    result = nr.run(load_config_file(tmp_path / "r.toml"), quiet=True)
    summary = result.summary
    assert summary["test"]["rmse"] < summary["baselines"]["models"]["majority"]["test"]["rmse"] / 2
    assert (result.path / "plots" / "predicted_vs_true_valid.png").exists()


def _run_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nnrecipe.cli", "run", *args]


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["digits", "--epochs", "8", "--threads", "1", "--quiet", "--force"]
    whole = tmp_path / "whole"
    subprocess.run(_run_cmd(*common, "--out", str(whole)), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _run_cmd(*common, "--out", str(killed)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = incomplete_dir(killed) / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.3)  # land somewhere inside a later epoch (or a checkpoint write)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not killed.exists() and incomplete_dir(killed).exists()

    resumed = subprocess.run(
        _run_cmd("--resume", str(killed), "--quiet"), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    sa = json.loads((whole / "summary.json").read_text())
    sb = json.loads((killed / "summary.json").read_text())
    assert sa["test"] == sb["test"] and sa["best_epoch"] == sb["best_epoch"]


def test_resume_of_a_finished_run_is_refused(digits_run) -> None:
    with pytest.raises(nr.ConfigError, match="already finished"):
        nr.run("digits", resume=Path(digits_run.path), quiet=True)


@pytest.mark.slow
def test_mnist1d_default_run_reaches_97_percent(tmp_path) -> None:
    result = nr.run("mnist1d", out=str(tmp_path / "m"), quiet=True)
    assert result.summary["test"]["accuracy"] >= 0.97


def test_run_takes_the_users_own_model_and_data(tmp_path) -> None:
    import torch
    from torch import nn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = (x[:300], y[:300], x[300:], y[300:])
    result = nr.run(
        data=data, model=model, out=str(tmp_path / "own"), epochs=10, threads=1, quiet=True
    )
    assert result.summary["valid"]["accuracy"] > 0.9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # copies trained
    saved = load_file(str(result.path / "model.safetensors"))
    assert set(saved) == set(before)

    def factory(d: nr.Data) -> nn.Module:
        return nn.Linear(d.input_shape[0], d.task.output_size())

    result = nr.run(
        data=data, model=factory, out=str(tmp_path / "factory"), epochs=5, threads=1, quiet=True
    )
    assert set(load_file(str(result.path / "model.safetensors"))) == {"weight", "bias"}
    with pytest.raises(nr.ConfigError, match="nr.tune"):
        nr.run(data=data, model=factory, out=str(tmp_path / "t"), tune_trials=2, quiet=True)


def test_config_json_records_what_the_run_resolved_and_reruns_it_bit_identically(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from nnrecipe.cli import app

    first = tmp_path / "first"
    nr.run("iris", out=str(first), epochs=3, quiet=True, force=True)
    saved = json.loads((first / "config.json").read_text())
    resolved = saved["resolved"]
    assert resolved["model"] == "mlp" and resolved["batch_size"] >= 1
    assert resolved["threads"] >= 1 and resolved["device"] == "cpu"
    again = tmp_path / "again"
    res = CliRunner().invoke(
        app, ["run", "--config", str(first / "config.json"), "--out", str(again), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    a, b = load_file(first / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
