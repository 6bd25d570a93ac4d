"""The file system as a fault source: a full disk (a 2 MB tmpfs), a read-only folder (a
read-only bind mount), and atomic writes that fail half-way. As root here, chmod does not stop
writes, so the faults are real mounts; without mount rights those tests are skipped."""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nnrecipe import io as nio
from nnrecipe.pipeline import incomplete_dir
from nnrecipe.train import checkpoint as ckpt

from .conftest import check_refused, checkpoints_kept, cli, no_traceback


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 2 MB tmpfs: the iris run folder (checkpoints ~1.4 MB, audit pictures, report) does
    not fit, so the run fails part-way with ENOSPC."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def read_only(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "existing").mkdir()
    if not (
        _mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,bind,ro", str(folder))
    ):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        pytest.skip("cannot make a read-only bind mount here (needs root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _leftover_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


def test_full_disk_keeps_the_partial_run_and_it_resumes_identically(tiny_disk, iris_run) -> None:
    out = tiny_disk / "iris"
    result = cli(
        "run", "iris", "--out", out, "--epochs", "2", "--threads", "1", "--force", "--quiet"
    )
    sentence = check_refused(result, "ENOSPC")
    assert "--resume" in sentence, sentence
    assert incomplete_dir(out).exists(), "the partial run was removed"
    assert not _leftover_temp_files(tiny_disk), "atomic writes left temporary files"
    assert _mount("-o", "remount,size=32m", str(tiny_disk))  # free space
    resumed = cli("run", "--resume", out, "--quiet")
    no_traceback(resumed)
    assert resumed.exit_code == 0, resumed.output
    got, want = (
        load_file(str(out / "model.safetensors")),
        load_file(str(iris_run / "model.safetensors")),
    )
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)


def test_read_only_output_folder_fails_before_the_data_are_loaded(read_only) -> None:
    result = cli("run", "iris", "--out", read_only / "run")
    assert "read-only" in check_refused(result, "EROFS")
    assert "data:" not in result.stdout
    check_refused(cli("run", "iris", "--out", read_only / "existing" / "deeper" / "run"), "EROFS")


def test_report_into_a_read_only_run_folder(read_only, iris_run) -> None:
    subprocess.run(["umount", "-l", str(read_only)], check=True)
    shutil.copytree(iris_run, read_only / "iris")
    assert _mount("--bind", str(read_only), str(read_only))
    assert _mount("-o", "remount,bind,ro", str(read_only))
    check_refused(cli("report", read_only / "iris"), "read-only")


def test_out_under_a_file_is_one_sentence(tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    check_refused(cli("run", "iris", "--out", tmp_path / "afile" / "run", "--quiet"))


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(args[0]) if args else None)


def test_atomic_write_cleans_its_temp_file_and_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "summary.json"
    nio.atomic_write_json(target, {"old": 1})
    for fn in ("replace", "fsync"):
        with monkeypatch.context() as m:
            m.setattr(nio.os, fn, _enospc)
            with pytest.raises(OSError):
                nio.atomic_write_json(target, {"new": 2})
        assert nio.read_json(target) == {"old": 1}
        assert not _leftover_temp_files(tmp_path)


def test_checkpoint_write_cleans_its_temp_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "last.safetensors"
    ckpt.save_tensors(path, {"w": torch.ones(3)}, {"epoch": 1})
    monkeypatch.setattr(ckpt, "save_file", _enospc)
    with pytest.raises(OSError):
        ckpt.save_tensors(path, {"w": torch.zeros(3)}, {"epoch": 2})
    assert torch.equal(ckpt.load_tensors(path)[0]["w"], torch.ones(3))
    assert not _leftover_temp_files(tmp_path)


def test_a_full_disk_after_a_checkpoint_keeps_the_run(interrupted, monkeypatch) -> None:
    """A fault after progress (here: writing the model at the end of training) keeps the
    interrupted run and says how to resume; checkpointed progress is never removed."""
    import nnrecipe.stages.training as training

    monkeypatch.setattr(training, "save_model", _enospc)
    sentence = check_refused(cli("run", "--resume", interrupted, "--quiet"), "ENOSPC")
    assert "--resume" in sentence
    checkpoints_kept(interrupted)
