"""Helpers of the fault-injection suite: every malformed input must end in exit code 2 (or a
clean 0/1 when it is valid after all), one line ``error: <sentence>`` on stderr, no traceback,
and no lost ``.incomplete`` folder holding a checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.errors import NnrecipeError
from nnrecipe.pipeline import incomplete_dir

RUNNER = CliRunner()


def cli(*args: str) -> Any:
    """`nnrecipe ARGS` in this process (the CLI's own error handling, no subprocess)."""
    return RUNNER.invoke(app, [str(a) for a in args])


def no_traceback(result: Any) -> None:
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"crashed: {result.exception!r}"
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")


def check_refused(result: Any, *words: str) -> str:
    """Exit code 2, no traceback, one line ``error: ...`` on stderr; returns the sentence."""
    no_traceback(result)
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output[-400:]}"
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    sentence = lines[0][len("error: ") :]
    assert len(sentence) > 20 and sentence.rstrip()[-1] in ".)`'\"", sentence
    for w in words:
        assert w.lower() in sentence.lower(), sentence
    return sentence


def api_refused(fn: Any, *args: Any, **kwargs: Any) -> str:
    """A library call raises an `NnrecipeError` whose message is one line."""
    with pytest.raises(NnrecipeError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message.strip() and len(message) > 20, message
    return message


def checkpoints_kept(folder: Path) -> None:
    """The interrupted run of `folder` still has its checkpoint."""
    assert (incomplete_dir(folder) / "checkpoints" / "last.safetensors").exists()


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (iris, 2 epochs): the source of every run-folder fault."""
    out = tmp_path_factory.mktemp("runs") / "iris"
    nr.run("iris", out=str(out), epochs=2, threads=1, quiet=True, force=True)
    return out


@pytest.fixture
def finished(iris_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run."""
    dst = tmp_path / "runs" / "iris"
    shutil.copytree(iris_run, dst)
    return dst


@pytest.fixture
def interrupted(iris_run: Path, tmp_path: Path) -> Path:
    """The run as a kill during its last stages leaves it: a ``.iris.incomplete`` folder with
    the audit, baselines and checks done and a checkpoint; returns the final folder's path."""
    final = tmp_path / "runs" / "iris"
    tmp = incomplete_dir(final)
    shutil.copytree(iris_run, tmp)
    for name in ("manifest.json", "summary.json", "model.safetensors", "report.html"):
        (tmp / name).unlink(missing_ok=True)
    for stage in ("train", "evaluate", "ensemble", "plots", "diagnose", "report"):
        (tmp / "stages" / f"{stage}.json").unlink(missing_ok=True)
    return final
