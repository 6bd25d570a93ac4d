"""`nnrecipe run --nproc 2`: data-parallel training with gloo on this 2-core machine.

Two processes must learn what one does: the same accuracy within noise, the same weights as one
process with the same global batch (a model without BatchNorm or dropout, whose statistics and
masks are per process), and a SIGKILL-then-resume that ends bit-identical to an uninterrupted
distributed run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nnrecipe.pipeline import incomplete_dir

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _nnrecipe(*args: str) -> list[str]:
    return [sys.executable, "-m", "nnrecipe", "run", *args]


def _run(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(_nnrecipe(*args), env=ENV, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_two_processes_reach_the_accuracy_of_one(tmp_path) -> None:
    _run("digits", "--threads", "1", "--quiet", "--out", str(tmp_path / "one"))
    _run("digits", "--nproc", "2", "--quiet", "--out", str(tmp_path / "two"))
    one, two = _summary(tmp_path / "one"), _summary(tmp_path / "two")
    a, b = one["test"]["accuracy"], two["test"]["accuracy"]
    n = 180  # digits' test split
    # Two accuracies on the same 180 test images: the binomial noise of their difference.
    noise = math.sqrt(2 * max(a * (1 - a), 1 / n) / n)
    assert abs(a - b) <= 3 * noise, (a, b, noise)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["config"]["nproc"] == 2


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path) -> None:
    common = ["digits", "--model", "linear", "--epochs", "5", "--quiet", "--force"]
    _run(*common, "--threads", "1", "--batch-size", "64", "--out", str(tmp_path / "one"))
    _run(*common, "--nproc", "2", "--batch-size", "32", "--out", str(tmp_path / "two"))
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    # Measured: max |difference| 3e-8 on weights up to 0.15 after 5 epochs (the same float sums
    # in another order); a wrong shard or loss weight differs by 1e-3 or more.
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), (k, (a[k] - b[k]).abs().max())


def test_killed_distributed_run_resumes_bit_identically(tmp_path) -> None:
    common = ["digits", "--nproc", "2", "--epochs", "8", "--quiet", "--force"]
    whole = tmp_path / "whole"
    _run(*common, "--out", str(whole))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _nnrecipe(*common, "--out", str(killed)),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = incomplete_dir(killed) / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.5)  # land somewhere inside a later epoch (or a checkpoint write)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The training processes die with the command (they would otherwise train on).
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}/stat").exists() for w in workers), workers
    assert not killed.exists() and incomplete_dir(killed).exists()

    other = subprocess.run(
        _nnrecipe("--resume", str(killed), "--nproc", "1", "--quiet"),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert other.returncode == 2 and "trained on 2" in other.stderr, other.stderr[-2000:]

    _run("--resume", str(killed), "--quiet")  # relaunches the 2 processes it was killed with
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = _summary(whole), _summary(killed)
    assert sa["test"] == sb["test"] and sa["best_epoch"] == sb["best_epoch"]
