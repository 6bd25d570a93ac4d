"""Damaged run folders: checkpoints of every kind of damage on --resume, the files a kill leaves
half-made, and garbage in every file `report` and `diagnose` read. Each one sentence, exit 2, no
traceback, and the interrupted run's folder (with its checkpoint) kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nnrecipe.pipeline import incomplete_dir

from .conftest import check_refused, checkpoints_kept, cli, no_traceback


def _rewrite(path: Path, change) -> None:
    """Apply `change(tensors, meta)` to a checkpoint and save it back."""
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iter
        meta = json.loads(f.metadata()["nnrecipe"])
    out = change(tensors, meta)
    tensors, meta = out if isinstance(out, tuple) else (tensors, meta)
    save_file(tensors, str(path), metadata=None if meta is None else {"nnrecipe": json.dumps(meta)})


def _first(tensors, prefix):
    return next(k for k in tensors if k.startswith(prefix))


def _set(tensors, key, value):
    tensors[key] = value


DAMAGES = {
    "rng-wrong-dtype": lambda t, m: _set(t, "rng.torch", t["rng.torch"].float()),
    "rng-wrong-size": lambda t, m: _set(t, "rng.shuffle", t["rng.shuffle"][:10]),
    "weight-wrong-shape": lambda t, m: _set(
        t, _first(t, "model."), torch.zeros(3, *t[_first(t, "model.")].shape)
    ),
    "weight-wrong-dtype": lambda t, m: _set(
        t, _first(t, "model."), t[_first(t, "model.")].double()
    ),
    "best-missing": lambda t, m: t.pop(_first(t, "best.")),
    "model-key-missing": lambda t, m: t.pop(_first(t, "model.")),
    "optimizer-wrong-shape": lambda t, m: _set(t, _first(t, "optim."), torch.zeros(7, 7)),
    "optimizer-unknown-param": lambda t, m: _set(t, "optim.999.exp_avg", torch.zeros(2)),
    "unknown-tensor": lambda t, m: _set(t, "something.else", torch.zeros(2)),
    "metadata-missing": lambda t, m: (t, None),
    "metadata-empty": lambda t, m: (t, {}),
    "metadata-no-epoch": lambda t, m: m.pop("epoch"),
    "metadata-epoch-text": lambda t, m: m.__setitem__("epoch", "two"),
    "metadata-history-dict": lambda t, m: m.__setitem__("history", {}),
    "metadata-no-optimizer": lambda t, m: m.pop("optimizer"),
    "metadata-param-groups-wrong": lambda t, m: m["optimizer"].__setitem__("param_groups", [{}]),
    "metadata-random-state-short": lambda t, m: m.__setitem__("python_random", [3, [1, 2], None]),
    "metadata-signature-missing": lambda t, m: m.pop("signature"),
    "metadata-list": lambda t, m: (t, [1, 2]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_checkpoint_is_one_sentence_and_the_folder_is_kept(interrupted, damage) -> None:
    last = incomplete_dir(interrupted) / "checkpoints" / "last.safetensors"
    _rewrite(last, DAMAGES[damage])
    check_refused(cli("run", "--resume", interrupted, "--quiet"), "damaged", "last.safetensors")
    checkpoints_kept(interrupted)


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\x00" * 64, b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"]
)
def test_unreadable_checkpoint_file(interrupted, content) -> None:
    last = incomplete_dir(interrupted) / "checkpoints" / "last.safetensors"
    last.write_bytes(content)
    check_refused(cli("run", "--resume", interrupted, "--quiet"), "damaged")
    assert incomplete_dir(interrupted).exists() and last.exists()


def test_truncated_checkpoint(interrupted) -> None:
    last = incomplete_dir(interrupted) / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    check_refused(cli("run", "--resume", interrupted, "--quiet"), "damaged")
    checkpoints_kept(interrupted)


def test_intact_interrupted_run_resumes(interrupted) -> None:
    """The fixture itself is resumable: the damage, not the set-up, makes the cases above fail."""
    result = cli("run", "--resume", interrupted, "--quiet")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert (interrupted / "model.safetensors").exists() and not incomplete_dir(interrupted).exists()


@pytest.mark.parametrize(
    "content",
    [
        None,
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"config": 3}',
        b'{"config": {"data": 5}}',
        b'{"config": {"data": "iris", "epochs": -4}}',
        b"\xff\xfe\x00",
    ],
)
def test_interrupted_run_with_a_damaged_config(interrupted, content) -> None:
    """A kill between creating the folder and writing config.json leaves it missing or empty."""
    config = incomplete_dir(interrupted) / "config.json"
    if content is None:
        config.unlink()
    else:
        config.write_bytes(content)
    check_refused(cli("run", "--resume", interrupted, "--quiet"), "config.json", "--overwrite")
    checkpoints_kept(interrupted)


def test_new_run_over_an_interrupted_one_is_refused(interrupted) -> None:
    check_refused(cli("run", "iris", "--out", interrupted, "--quiet"), "--resume")
    checkpoints_kept(interrupted)


def test_resume_given_the_hidden_folder_itself(interrupted) -> None:
    result = cli("run", "--resume", incomplete_dir(interrupted), "--quiet")
    no_traceback(result)
    assert result.exit_code == 0 and (interrupted / "model.safetensors").exists()


def test_resume_of_things_that_are_not_interrupted_runs(tmp_path, finished) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "not a run folder" in check_refused(cli("run", "--resume", plain))
    assert "already finished" in check_refused(cli("run", "--resume", finished))
    check_refused(cli("run", "--resume", a_file))
    check_refused(cli("run", "--resume", tmp_path / "nowhere"), "nothing to resume")
    check_refused(cli("run", "--resume", ""))
    fake = tmp_path / "fake"
    incomplete_dir(fake).write_text("not a folder")
    check_refused(cli("run", "--resume", fake))


# Garbage in the files `report` and `diagnose` read: each a clean report (exit 0: the report
# degrades and names the damaged file) or one sentence naming the file (exit 2).
GARBAGE = {
    "metrics.csv": [b"\xff\xfe\x00garbage", b"", b"epoch,train_loss\n1,abc\n2,\n", b"a,b\n1,2,3\n"],
    "summary.json": [b"[1, 2]", b"garbage", b'{"valid": 3}', b"", b"\xff"],
    "config.json": [b"[]", b"garbage", b'{"config": 5}', b"{}", b""],
    "monitor.json": [b"garbage", b"[1]", b'{"epochs": 5}', b'{"epochs": [1, 2]}'],
    "test_evaluations.json": [b"garbage", b"[]", b'{"sessions": 3}', b'{"sessions": [1]}'],
    "stages/train.json": [b"garbage", b"[]", b'{"epochs_run": "x"}'],
    "stages/evaluate.json": [b"{", b'{"scores": []}'],
    "report/data.json": [b"[1]", b'{"a": 1}', b"\xff"],
    "manifest.json": [b"garbage", b"[]"],
}
CASES = [(f, c) for f, cs in GARBAGE.items() for c in cs]


@pytest.mark.parametrize("command", ["report", "diagnose"])
@pytest.mark.parametrize(
    ("name", "content"), CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)]
)
def test_garbage_in_a_run_folder(finished, command, name, content) -> None:
    (finished / name).write_bytes(content)
    result = cli(command, finished)
    no_traceback(result)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        sentence = check_refused(result)
        assert Path(name).name in sentence or "run folder" in sentence, sentence


@pytest.mark.parametrize("name", ["summary.json", "config.json"])
def test_diagnose_names_a_damaged_summary_or_config(finished, name) -> None:
    (finished / name).write_text("[1, 2, 3]")
    check_refused(cli("diagnose", finished), name)


def test_damaged_model_file_on_diagnose_evaluate(finished) -> None:
    (finished / "model.safetensors").write_bytes(b"garbage")
    check_refused(cli("diagnose", finished, "--evaluate"), "model.safetensors", "damaged")
