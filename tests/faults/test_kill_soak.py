"""Kill soak: random SIGKILLs of `nnrecipe run` (across every stage) and of `nnrecipe tune`,
each followed by a resume; the resumed runs must end bit-identical to the uninterrupted one.

Slow (minutes): run with ``pytest -m slow tests/faults/test_kill_soak.py``.
"""

from __future__ import annotations

import csv
import json
import os
import random
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
RUN = ["iris", "--epochs", "4", "--threads", "1", "--quiet", "--force", "--seed", "0"]
RUN_KILLS = 20
TUNE_KILLS = 3


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nnrecipe.cli", *args]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _metrics(folder: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _stage_at_kill(folder: Path) -> str:
    tmp = incomplete_dir(folder)
    manifest = tmp / "manifest.json"
    try:
        done = [s["name"] for s in json.loads(manifest.read_text())["stages"]]
    except (OSError, ValueError, KeyError):
        return "start" if not tmp.exists() else "before-audit"
    return f"after-{done[-1]}" if done else "before-audit"


# Where the kills land: once the stage before is done (its stages/NAME.json exists), plus a
# random delay; "train" waits for the first checkpoint, so the kill lands mid-training.
TARGETS = [None, "audit", "baselines", "checks", "train", "train", "evaluate", "plots", "diagnose"]


def _kill_in_stage(cmd: list[str], folder: Path, after: str | None, delay: float) -> bool:
    """Start `cmd`, SIGKILL it `delay` s after stage `after` finished (None: after the start);
    False when it had already finished."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = incomplete_dir(folder)
    deadline = time.monotonic() + 900
    while after is not None and proc.poll() is None and time.monotonic() < deadline:
        if after == "train" and (tmp / "checkpoints" / "last.safetensors").exists():
            break
        if after != "train" and (tmp / "stages" / f"{after}.json").exists():
            break
        time.sleep(0.02)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _kill_after(cmd: list[str], delay: float) -> bool:
    """Start `cmd`, SIGKILL it after `delay` s; False when it had already finished."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def _finish(folder: Path) -> subprocess.CompletedProcess:
    """Resume a killed run (or start it again when it died before its config was written)."""
    if incomplete_dir(folder).exists():
        done = subprocess.run(
            _cli("run", "--resume", str(folder), "--quiet"), env=ENV, capture_output=True, text=True
        )
        if done.returncode == 0 or "config.json" not in done.stderr:
            return done
    return subprocess.run(
        _cli("run", *RUN, "--out", str(folder), "--overwrite"),
        env=ENV,
        capture_output=True,
        text=True,
    )


def test_run_kill_soak(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    t0 = time.monotonic()
    subprocess.run(_cli("run", *RUN, "--out", str(whole)), check=True, env=ENV)
    duration = time.monotonic() - t0
    ref_w, ref_m = _weights(whole), _metrics(whole)
    rng = random.Random(17)
    kills, identical, stages = 0, 0, []
    for i in range(RUN_KILLS + 10):
        if kills >= RUN_KILLS:
            break
        folder = tmp_path / f"k{i}"
        after = TARGETS[i % len(TARGETS)]
        delay = rng.uniform(0.05, 1.5) if after else rng.uniform(0.3, 3.0)
        if not _kill_in_stage(_cli("run", *RUN, "--out", str(folder)), folder, after, delay):
            continue  # finished before the kill landed: not a kill
        kills += 1
        stages.append(f"{after or 'start'}+{delay:.2f}s:{_stage_at_kill(folder)}")
        had_checkpoint = (incomplete_dir(folder) / "checkpoints" / "last.safetensors").exists()
        if i % 5 == 0 and incomplete_dir(folder).exists():  # a second kill, during the resume
            _kill_after(
                _cli("run", "--resume", str(folder), "--quiet"), rng.uniform(0.5, duration / 2)
            )
            assert not had_checkpoint or incomplete_dir(folder).exists() or folder.exists()
        done = _finish(folder)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        w = _weights(folder)
        same = w.keys() == ref_w.keys() and all(torch.equal(w[k], ref_w[k]) for k in w)
        assert same and _metrics(folder) == ref_m, f"kill {kills} ({stages[-1]}) differs"
        identical += 1
    print(f"run kills: {kills}, bit-identical resumes: {identical}, where: {stages}")
    assert kills >= RUN_KILLS and identical == kills


def _trials(folder: Path) -> dict[str, float]:
    import optuna

    db = folder / "study.db"
    names = optuna.get_all_study_names(storage=f"sqlite:///{db}")
    study = optuna.load_study(study_name=names[0], storage=f"sqlite:///{db}")
    out = {}
    for t in study.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE":
            out[json.dumps(t.params, sort_keys=True)] = t.value
    return out


def test_tune_kill_soak(tmp_path: Path) -> None:
    tune = ["tune", "iris", "--trials", "4", "--epochs", "3", "--seed", "0", "--quiet"]
    whole = tmp_path / "whole"
    t0 = time.monotonic()
    subprocess.run(_cli(*tune, "--out", str(whole)), check=True, env=ENV, capture_output=True)
    duration = time.monotonic() - t0
    ref = _trials(whole)
    rng = random.Random(3)
    kills = matched = 0
    for i in range(TUNE_KILLS + 5):
        if kills >= TUNE_KILLS:
            break
        folder = tmp_path / f"t{i}"
        if not _kill_after(
            _cli(*tune, "--out", str(folder)), rng.uniform(0.3 * duration, 0.9 * duration)
        ):
            continue
        kills += 1
        done = subprocess.run(
            _cli(*tune, "--out", str(folder)), env=ENV, capture_output=True, text=True
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        got = _trials(folder)
        shared = set(got) & set(ref)
        assert shared, "the resumed study shares no trial with the uninterrupted one"
        assert all(got[p] == ref[p] for p in shared), "a resumed trial scored differently"
        matched += len(shared)
    print(f"tune kills: {kills}, trials identical to the uninterrupted study: {matched}")
    assert kills >= TUNE_KILLS
