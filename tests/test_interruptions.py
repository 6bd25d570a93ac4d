"""Interruptions, absent devices, broken pipes and explain: one sentence, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.pipeline import incomplete_dir


def test_an_absent_device_is_refused_before_any_work(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["run", "iris", "--device", "tpu", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "Unknown device 'tpu'" in res.output
    assert not incomplete_dir(tmp_path / "r").exists()


def test_cuda_without_a_gpu_is_one_sentence(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(nr.ConfigError, match="not available on this machine"):
        nr.run("iris", device="cuda", out=str(tmp_path / "r"), quiet=True)


def test_ctrl_c_keeps_the_run_and_says_how_to_resume(tmp_path: Path, monkeypatch) -> None:
    from nnrecipe.stages import data_stages

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_stages, "baselines", interrupt)
    out = tmp_path / "r"
    with pytest.raises(nr.NnrecipeError, match=r"--resume .*r`") as info:
        nr.run("iris", out=str(out), epochs=1, threads=1, quiet=True)
    assert getattr(info.value, "exit_code", None) == 130
    assert incomplete_dir(out).exists()
    # The same command again asks for --resume or --overwrite instead of deleting the run.
    with pytest.raises(nr.ConfigError, match="interrupted run is waiting"):
        nr.run("iris", out=str(out), epochs=1, threads=1, quiet=True)
    assert incomplete_dir(out).exists()


def test_a_closed_stdout_does_not_kill_the_run(tmp_path: Path) -> None:
    def closed(text: str) -> None:
        raise BrokenPipeError

    result = nr.run("iris", out=str(tmp_path / "r"), epochs=1, threads=1, say=closed, force=True)
    assert (result.path / "summary.json").is_file()


def test_explain_lists_codes_and_ignores_case() -> None:
    res = CliRunner().invoke(app, ["explain", "--list"])
    assert res.exit_code == 0 and "loss-at-init" in res.output and "split-leakage" in res.output
    assert "loss" in nr.explain("LOSS_AT_INIT").lower()


def test_results_and_findings_print_short() -> None:
    result = nr.audit(nr.datasets.load("iris"))
    assert len(repr(result)) < 200 and repr(result).startswith("Result(audit:")
    assert all(len(repr(f)) < 140 for f in result)
