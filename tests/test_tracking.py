"""`--log tensorboard,mlflow` read back with each library's own reader, and `nnrecipe runs`
(the terminal table and runs/index.html) over a folder of two tiny runs and a junk folder."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.config import make_config
from nnrecipe.runs import list_runs

SCRIPT_NAME = "<script>alert(1)"  # a run folder named like markup: escaped on the page


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    """runs/ of two 2-epoch runs (the first logged to TensorBoard and MLflow) and a junk
    folder, made from the default runs/ folder so that each run rewrites runs/index.html."""
    root = tmp_path_factory.mktemp("tracking")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        common = dict(epochs=2, threads=1, quiet=True)
        nr.run("iris", out="runs/tracked", log="tensorboard,mlflow", **common)
        nr.run("wine", out=f"runs/{SCRIPT_NAME}", **common)
    finally:
        os.chdir(cwd)
    (root / "runs" / "junk").mkdir()
    (root / "runs" / "junk" / "notes.txt").write_text("not a run")
    return root / "runs"


def _history(run: Path, key: str) -> list[tuple[int, float]]:
    with (run / "metrics.csv").open() as f:
        return [(int(r["epoch"]), float(r[key])) for r in csv.DictReader(f)]


def _codes(run: Path) -> set[str]:
    return {f["code"] for f in json.loads((run / "summary.json").read_text())["findings"]}


@pytest.mark.slow  # two runs: ~45 s on this loaded 2-core machine
def test_tensorboard_events_read_back_with_event_accumulator(runs_folder) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = runs_folder / "tracked"
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    for tag, key in (("valid/loss", "valid_loss"), ("train/loss", "train_loss")):
        steps, values = zip(*[(e.step, e.value) for e in events.Scalars(tag)], strict=True)
        want_steps, want = zip(*_history(run, key), strict=True)
        assert steps == want_steps and values == pytest.approx(want, rel=1e-6)  # float32
    texts = {
        t: events.Tensors(t)[0].tensor_proto.string_val[0].decode()
        for t in events.Tags()["tensors"]
    }
    assert "batch_size" in texts["config/text_summary"]
    assert all(code in texts["findings/text_summary"] for code in _codes(run))
    assert "report.html" in texts["report/text_summary"]
    test_accuracy = json.loads((run / "summary.json").read_text())["test"]["accuracy"]
    assert events.Scalars("final/test_accuracy")[0].value == pytest.approx(test_accuracy)


@pytest.mark.slow
def test_mlflow_run_read_back_with_mlflow_client(runs_folder) -> None:
    from mlflow.tracking import MlflowClient

    run = runs_folder / "tracked"
    state = json.loads((run / "tracking.json").read_text())
    client = MlflowClient(
        tracking_uri=f"sqlite:///{(runs_folder / 'mlflow' / 'mlflow.db').resolve()}"
    )
    logged = client.get_run(state["mlflow_run_id"])
    assert logged.info.status == "FINISHED" and logged.info.run_name == "tracked"
    for key in ("valid_loss", "valid_accuracy", "train_loss"):
        history = client.get_metric_history(logged.info.run_id, key)
        assert [(m.step, m.value) for m in history] == _history(run, key)
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    params = logged.data.params
    assert params["model"] == resolved["model"] and params["batch_size"] == str(
        resolved["batch_size"]
    )
    assert params["epochs"] == "2" and params["data"] == "iris"
    assert {f"finding.{c}" for c in _codes(run)} <= set(logged.data.tags)
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "summary.json", "findings.json"} <= artifacts


@pytest.mark.slow
def test_runs_lists_both_runs_flags_the_junk_and_escapes_names(runs_folder) -> None:
    index = runs_folder / "index.html"
    assert index.exists()  # each run in runs/ rewrote it
    result = CliRunner().invoke(app, ["runs", str(runs_folder)])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "finished" in lines["tracked"] and "iris" in lines["tracked"]
    assert "finished" in lines[SCRIPT_NAME] and "wine" in lines[SCRIPT_NAME]
    assert "unreadable" in lines["junk"]
    assert "mlflow" not in lines  # the MLflow store beside the runs is not a run
    page = index.read_text()
    assert SCRIPT_NAME not in page and "&lt;script&gt;alert(1)" in page
    assert (
        "href='tracked/report.html'" in page
        and "href='%3Cscript%3Ealert%281%29/report.html'" in page
    )
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing fetched
    assert page.count("<script>") == 1  # the page's own sorting script only


def test_log_option_parses_lists_and_commas_and_refuses_unknown_trackers() -> None:
    assert make_config({"data": "iris", "log": "tensorboard, mlflow"}).log == [
        "tensorboard",
        "mlflow",
    ]
    assert make_config({"data": "iris", "log": ["mlflow", "mlflow"]}).log == ["mlflow"]
    with pytest.raises(nr.ConfigError, match="log"):
        make_config({"data": "iris", "log": "wandb"})


@pytest.mark.parametrize("tracker", ["tensorboard", "mlflow"])
def test_missing_tracker_library_is_one_sentence_and_exit_2_before_any_work(
    tracker, tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, tracker, None)  # as if not installed: import fails
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "iris", "--out", str(out), "--log", tracker])
    assert result.exit_code == 2
    assert f"pip install 'nnrecipe[{tracker}]'" in result.output
    assert "data:" not in result.output and not out.exists() and not list(tmp_path.iterdir())


def test_log_uri_of_a_server_is_refused(tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "iris",
            "--out",
            str(tmp_path / "r"),
            "--log",
            "mlflow",
            "--log-uri",
            "http://x:5000",
        ],
    )
    assert result.exit_code == 2 and "local MLflow stores only" in result.output


def test_runs_of_a_missing_folder_is_exit_2(tmp_path) -> None:
    result = CliRunner().invoke(app, ["runs", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "is not a folder" in result.output


@pytest.mark.slow  # an interrupted and a resumed run: ~35 s here
def test_a_resumed_run_continues_its_mlflow_run_without_a_gap(tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    from nnrecipe.pipeline import incomplete_dir
    from nnrecipe.train.monitor import Monitor

    monitor_end = Monitor.on_epoch_end

    def ctrl_c_after_epoch_2(self, learner) -> None:
        monitor_end(self, learner)
        if len(learner.history) == 2:  # checkpointed, but the tracker (after the monitor) not
            raise KeyboardInterrupt

    monkeypatch.setattr(Monitor, "on_epoch_end", ctrl_c_after_epoch_2)
    out, store = tmp_path / "r", tmp_path / "store"
    options = dict(epochs=4, threads=1, quiet=True, log="mlflow", log_uri=str(store))
    with pytest.raises(nr.NnrecipeError, match="--resume"):
        nr.run("iris", out=str(out), **options)
    run_id = json.loads((incomplete_dir(out) / "tracking.json").read_text())["mlflow_run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    assert client.get_run(run_id).info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run_id, "valid_loss")] == [1]
    rows = {r.name: r for r in list_runs(tmp_path)}  # the store is not a run
    assert set(rows) == {"r"} and (rows["r"].status, rows["r"].epochs) == ("interrupted", "2/4")
    monkeypatch.undo()
    nr.run("iris", resume=str(out), quiet=True)
    assert client.get_run(run_id).info.status == "FINISHED"
    history = client.get_metric_history(run_id, "valid_loss")
    assert [(m.step, m.value) for m in history] == _history(out, "valid_loss")  # epochs 1..4
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1


@pytest.mark.slow  # audit and checks of iris, then the stop: ~15 s here
def test_a_run_stopped_by_the_checks_is_a_failed_mlflow_run_with_its_findings(tmp_path) -> None:
    import torch
    from mlflow.tracking import MlflowClient

    store = tmp_path / "store"
    with pytest.raises(nr.NnrecipeError, match="shape-mismatch"):
        nr.run(
            "iris",
            model=torch.nn.Linear(4, 2),  # 2 outputs for 3 classes: the checks stop the run
            out=str(tmp_path / "r"),
            threads=1,
            quiet=True,
            log="mlflow",
            log_uri=str(store),
        )
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    (logged,) = client.search_runs([client.get_experiment_by_name("iris").experiment_id])
    assert logged.info.status == "FAILED"
    assert logged.data.params["data"] == "iris" and logged.data.params["model"] == "user"
    assert logged.data.tags["finding.shape-mismatch"].startswith("error:")
