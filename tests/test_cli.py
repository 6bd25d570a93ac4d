"""The CLI: every error a user can cause is one sentence and exit code 2, with no run folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from nnrecipe.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _images(root, classes=("a", "b"), n=6) -> None:
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for j in range(n):
            Image.fromarray(np.full((8, 8), 40 * i + j, np.uint8)).save(root / c / f"{j}.png")


def _bad_inputs(tmp_path):
    """(name, argv, expected words in the message) for each error a user can cause."""
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    _images(corrupt)
    (corrupt / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": range(30), "y": [0, 1] * 15}).to_csv(table, index=False)
    single = tmp_path / "single.csv"
    pd.DataFrame({"x": range(30), "y": [1] * 30}).to_csv(single, index=False)
    nan_target = tmp_path / "nan.csv"
    # Rows with a missing target are left out (a `missing-target` finding); none left: an error.
    pd.DataFrame({"x": range(30), "y": [None] * 30}).to_csv(nan_target, index=False)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('data = "digits"\nlr = -1\nlearning_rate = 3\n')
    return [
        ("bad path", ["run", str(tmp_path / "missing_dir/")], ["neither a built-in data set"]),
        ("empty folder", ["run", str(empty)], ["No images found"]),
        ("corrupt image", ["run", str(corrupt)], ["bad.png"]),
        ("csv without target", ["run", str(table), "--target", "label"], ["no column 'label'"]),
        ("csv with no --target", ["run", str(table)], ["--target"]),
        ("single class", ["run", str(single), "--target", "y"], ["single class"]),
        ("nan targets", ["run", str(nan_target), "--target", "y"], ["missing target"]),
        ("unknown data set", ["run", "digitz"], ["digitz", "built-in"]),
        (
            "invalid config",
            ["run", "--config", str(bad_config)],
            ["lr", "learning_rate", "unknown key"],
        ),
        ("invalid flag value", ["run", "digits", "--epochs", "0"], ["epochs"]),
        (
            "missing config file",
            ["run", "--config", str(tmp_path / "nope.toml")],
            ["does not exist"],
        ),
        ("unknown finding code", ["explain", "no-such-code"], ["Unknown finding code"]),
        (
            "nothing to resume",
            ["run", "--resume", str(tmp_path / "runs" / "never")],
            ["Nothing to resume"],
        ),
    ]


def test_user_errors_exit_2_with_one_clear_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, argv, words in _bad_inputs(tmp_path):
        result = _run(*argv, "--quiet") if argv[0] == "run" else _run(*argv)
        assert result.exit_code == 2, (name, result.output)
        message = result.output.strip().splitlines()
        assert len(message) == 1 and message[0].startswith("error: "), (name, result.output)
        for w in words:
            assert w in message[0], (name, message[0])
        assert "Traceback" not in result.output
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), name


def test_debug_shows_the_traceback(tmp_path) -> None:
    result = _run("--debug", "run", "digitz", "--quiet")
    assert result.exit_code != 0 and result.exception is not None


def test_help_env_datasets_explain() -> None:
    assert _run("--help").exit_code == 0
    env = _run("env")
    assert env.exit_code == 0 and "torch:" in env.output and "device:" in env.output
    assert "mnist1d" in _run("datasets").output
    explained = _run("explain", "below-baseline")
    assert explained.exit_code == 0 and "Why it matters" in explained.output
