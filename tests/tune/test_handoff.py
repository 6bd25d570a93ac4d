"""`nnrecipe tune` hands off: the tune folder holds the best trial's model (predict, diagnose),
a report of the search, and a command that continues; `run --tune-study` reuses the study."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import numpy as np
import optuna
import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.html import fmt
from nnrecipe.tune.report import FEW_TRIALS

from .conftest import SPACE

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _n_trials(folder: Path) -> int:
    study = optuna.load_study(study_name="nnrecipe", storage=f"sqlite:///{folder / 'study.db'}")
    return len(study.trials)


def _refused(result, *words: str) -> str:
    """Exit 2, no traceback, one sentence on stderr naming `words`."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def iris_tune(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`nnrecipe tune iris` with 3 trials of 2 epochs and 2 re-seeded trainings."""
    out = tmp_path_factory.mktemp("tune") / "iris"
    r = _cli(
        "tune", "iris", "--model", "mlp", "--trials", "3", "--epochs", "2", "--repeats", "2",
        "--threads", "1", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out, r.stdout


def _raw_iris_valid() -> tuple[np.ndarray, list[str]]:
    import sklearn.datasets

    idx = nr.datasets.load("iris").valid.index.numpy()
    bunch = sklearn.datasets.load_iris()
    return bunch.data[idx].astype(np.float32), [bunch.target_names[i] for i in bunch.target[idx]]


def test_the_tune_folder_predicts_as_its_best_trial_scored(iris_tune, tmp_path) -> None:
    folder, _ = iris_tune
    saved = json.loads((folder / "tune.json").read_text())
    x_raw, y = _raw_iris_valid()
    labels = nr.load(folder).predict(x_raw)
    error = np.mean([p != t for p, t in zip(labels, y, strict=True)])  # labels by name
    # The model is the best trial's: its valid error is the value the study recorded.
    assert error == pytest.approx(saved["best_value"], abs=1e-9)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["valid"]["error"] == pytest.approx(error, abs=1e-9)
    np.save(tmp_path / "x.npy", x_raw[:20])
    r = _cli("predict", str(folder), str(tmp_path / "x.npy"))
    assert r.exit_code == 0, r.output
    assert r.stdout.split()[1:] == [str(v) for v in labels[:20]]


def test_tune_prints_the_folder_model_report_and_next_command(iris_tune) -> None:
    folder, out = iris_tune
    assert f"model: {folder / 'model.safetensors'}" in out
    assert f"report: {folder / 'report.html'}" in out
    assert f"continue: nnrecipe run --config {folder / 'config.json'}" in out


def test_the_report_lists_every_trial_and_the_measured_noise(iris_tune) -> None:
    folder, _ = iris_tune
    page = (folder / "report.html").read_text()
    saved = json.loads((folder / "tune.json").read_text())
    rows = re.findall(r"<table class='trials'>.*?</table>", page, flags=re.S)[0]
    assert rows.count("<tr>") == 1 + len(saved["trials"]) == 4  # header + 3 trials
    for t in saved["trials"]:
        assert fmt(t["value"]) in rows
    noise = saved["final"]["noise"]
    assert len(noise["reseeded_errors"]) == 2 and noise["sd"] is not None
    assert fmt(noise["sd"]) in page
    assert "Noise of the validation score" in page and "<script" not in page
    (folder / "report.html").unlink()
    r = _cli("report", str(folder))  # rebuilt from the folder alone, as the tune page
    assert r.exit_code == 0, r.output
    assert (folder / "report.html").read_text() == page


def test_diagnose_takes_the_tune_folder(iris_tune) -> None:
    folder, _ = iris_tune
    r = _cli("diagnose", str(folder))
    assert r.exit_code == 0, r.output
    valid = json.loads((folder / "summary.json").read_text())["valid"]["error"]
    assert f"valid        {valid:.4f}" in r.stdout


@pytest.mark.slow  # 6 s quiet, ~20 s loaded: the full recipe; the test above is its fast twin
def test_the_printed_command_trains_the_best_settings_without_new_trials(
    iris_tune, tmp_path, monkeypatch
) -> None:
    folder, out = iris_tune
    before = _n_trials(folder)
    command = next(ln for ln in out.splitlines() if ln.startswith("continue: "))
    argv = shlex.split(command.removeprefix("continue: "))[1:]  # drop "nnrecipe"
    monkeypatch.chdir(tmp_path)
    r = _cli(*argv, "--force", "--threads", "1", "--quiet")
    assert r.exit_code == 0, r.output
    assert _n_trials(folder) == before == 3
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())  # not index.html
    best = json.loads((folder / "tune.json").read_text())["best_params"]
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert resolved["lr"] == best["lr"] and resolved["width"] == best["width"]


def test_tune_study_refuses_what_is_not_a_study(iris_tune, tmp_path) -> None:
    folder, _ = iris_tune
    (tmp_path / "junk.db").write_bytes(b"not a database")
    (tmp_path / "empty").mkdir()
    for path, words in (
        (tmp_path / "nowhere", ("does not exist",)),
        (tmp_path / "junk.db", ("not a study",)),
        (tmp_path / "empty", ("not a study",)),
    ):
        _refused(
            _cli("run", "digits", "--tune-study", str(path), "--out", str(tmp_path / "r")), *words
        )
    _refused(
        _cli("run", "digits", "--tune-study", str(folder), "--out", str(tmp_path / "r")),
        "other data",
    )
    _refused(
        _cli("run", "iris", "--model", "linear", "--tune-study", str(folder), "--out", str(tmp_path / "r")),
        "searched model 'mlp'",
    )  # fmt: skip
    _refused(
        _cli("run", "iris", "--tune", "2", "--tune-study", str(folder), "--out", str(tmp_path / "r")),
        "give one",
    )  # fmt: skip
    assert not any(tmp_path.glob("*r*incomplete*")) and not (tmp_path / "r").exists()


# ~6 s on a quiet machine (the full recipe on 300 samples), 18 s under a load of 7.
def test_run_with_a_study_makes_no_trial_and_trains_its_best(tiny, tmp_path) -> None:
    folder = tmp_path / "tune"
    r = nr.tune(
        tiny, trials=3, epochs=2, model="mlp", space=SPACE, out=folder, quiet=True, repeats=0
    )
    # The printed call for one's own data: nr.run({...}, data=data), with the space searched.
    printed = r.final["next"]
    assert printed.startswith("nr.run({") and printed.endswith("}, data=data)")
    call = ast.literal_eval(printed[len("nr.run(") : -len(", data=data)")])
    assert call["tune_space"] == SPACE and call["tune_study_path"] == str(folder.resolve())
    settings = {"data": tiny.name, "model": "mlp", "epochs": 2, "threads": 1, "force": True}
    out = nr.run(
        {**call, "threads": 1, "force": True, "ensemble": 2},
        data=tiny, out=str(tmp_path / "run"), quiet=True,
    )  # fmt: skip
    assert _n_trials(folder) == 3
    resolved = json.loads((out.path / "config.json").read_text())["resolved"]
    assert resolved["lr"] == r.best_params["lr"] and resolved["depth"] == r.best_params["depth"]
    # The study's own trial models make the ensemble (two complete trials of three).
    members = json.loads((out.path / "ensemble" / "ensemble.json").read_text())["members"]
    ranked = sorted((t for t in r.trials if t["state"] == "complete"), key=lambda t: t["value"])
    assert members == [f"trial-{t['number']:04d}.safetensors" for t in ranked[:2]]
    with pytest.raises(nr.ConfigError, match="another space"):
        nr.run(  # the default MLP space, not the one searched
            {**settings, "tune_study_path": str(folder)}, data=tiny, out=str(tmp_path / "r2")
        )


def test_a_missing_trial_model_is_trained_again_to_the_same_weights(tiny, tmp_path, capsys) -> None:
    import shutil

    from nnrecipe.train.checkpoint import load_tensors

    kwargs = dict(trials=2, epochs=2, model="mlp", space=SPACE, out=tmp_path, repeats=2)
    r = nr.tune(tiny, **kwargs, quiet=True)
    kept, _ = load_tensors(tmp_path / "model.safetensors")
    assert r.final["kept"]
    shutil.rmtree(tmp_path / "trials")
    again = nr.tune(tiny, **kwargs, quiet=False)
    assert not again.final["kept"] and _n_trials(tmp_path) == 2
    retrained, _ = load_tensors(tmp_path / "model.safetensors")
    assert all(np.array_equal(kept[k].numpy(), retrained[k].numpy()) for k in kept)
    # The same best trial: its measured noise is kept, not trained again.
    assert "noise: training" not in capsys.readouterr().out
    assert again.final["noise"] == r.final["noise"]


def test_importances_from_few_trials_carry_a_caveat(tiny, tmp_path) -> None:
    r = nr.tune(
        tiny, trials=6, epochs=2, model="mlp", space=SPACE, out=tmp_path, quiet=True,
        pruner="none", sampler="random", repeats=0,
    )  # fmt: skip
    assert r.importance and r.counts["complete"] < FEW_TRIALS
    page = (tmp_path / "report.html").read_text()
    assert f"importances are unreliable under {FEW_TRIALS}" in page
    for knob in SPACE:
        assert knob in page
    assert "The noise was not measured" in page  # repeats=0 says so rather than guessing
