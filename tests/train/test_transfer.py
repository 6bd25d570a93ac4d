"""Transfer learning on a Learner: freeze/unfreeze flags, discriminative rates in the optimizer,
fine_tune's two phases and its exact resume after SIGKILL, lr="auto", and the transfer checks."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.train.optim import adamw


@pytest.fixture(scope="module")
def wine() -> nr.Data:
    return nr.datasets.load("wine")


def _body(data: nr.Data, seed: int = 0) -> nn.Module:
    """A 'pretrained' MLP: the built-in one, its head replaced (marked as a body)."""
    torch.manual_seed(seed)
    model = build_model("mlp", data, width=32)
    nr.models.new_head(model, data.task.output_size(), source="test")
    return model


def test_freeze_and_unfreeze_flip_exactly_the_body_flags(wine: nr.Data) -> None:
    model = _body(wine)
    learner = nr.Learner(model, wine, quiet=True, threads=1)
    norm = {f"body.{i}.{k}" for i in (1, 5) for k in ("weight", "bias")}  # the BatchNorm layers
    learner.freeze()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"body.0.weight", "body.0.bias", "body.4.weight", "body.4.bias"}
    learner.freeze(train_bn=False)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"body.0.weight", "body.0.bias", "body.4.weight", "body.4.bias"} | norm
    assert all(m.momentum == 0.0 for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    learner.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm1d))


def test_a_slice_of_rates_lands_in_the_optimizer_groups(wine: nr.Data) -> None:
    learner = nr.Learner(_body(wine), wine, lr=(1e-5, 1e-3), quiet=True, threads=1)
    learner._setup()
    by_group: dict[int, set[float]] = {}
    for g in learner.opt.param_groups:
        by_group.setdefault(g["layer_group"], set()).add(g["lr"])
    assert {k: sorted(v) for k, v in by_group.items()} == {
        0: [pytest.approx(1e-5)],
        1: [pytest.approx(1e-4)],  # evenly spaced on a log scale
        2: [pytest.approx(1e-3)],  # the head
    }
    # Weight decay only on matrices: biases and BatchNorm scales are not decayed.
    assert all(
        (g["weight_decay"] > 0) == (g["params"][0].ndim > 1) for g in learner.opt.param_groups
    )
    held = {id(p) for g in learner.opt.param_groups for p in g["params"]}
    assert held == {id(p) for p in learner.model.parameters()}


def test_a_model_without_groups_trains_as_before(wine: nr.Data) -> None:
    torch.manual_seed(0)
    learner = nr.Learner(build_model("mlp", wine, width=32), wine, quiet=True, threads=1)
    learner._setup()
    assert len(learner.opt.param_groups) == 2 and "layer_group" not in learner.opt.param_groups[0]


def test_fine_tune_trains_the_head_first_then_everything(wine: nr.Data) -> None:
    model = _body(wine)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    learner = nr.Learner(model, wine, lr=1e-2, quiet=True, threads=1, patience=None)
    seen: list[dict[str, float]] = []

    class Watch:
        def on_epoch_end(self, lrn: nr.Learner) -> None:
            seen.append({n: p.detach().clone() for n, p in lrn.model.named_parameters()})

    learner.callbacks.append(Watch())
    history = learner.fine_tune(3, freeze_epochs=2)
    assert [r["phase"] for r in history] == ["frozen"] * 2 + ["unfrozen"] * 3
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    after_frozen = seen[1]
    assert torch.equal(after_frozen["body.0.weight"], before["body.0.weight"])  # frozen
    assert not torch.equal(after_frozen["head.linear.weight"], before["head.linear.weight"])
    assert not torch.equal(seen[-1]["body.0.weight"], before["body.0.weight"])  # unfrozen
    phases = learner.transfer["phases"]
    assert phases[0]["lr"] == [1e-2] * 3 and phases[0]["frozen_groups"] == [0, 1]
    assert phases[1]["lr"] == pytest.approx([5e-5, 5e-4, 5e-3]) and phases[1]["frozen_groups"] == []


def test_fine_tune_splits_a_model_without_marked_groups(wine: nr.Data) -> None:
    torch.manual_seed(0)
    model = build_model("mlp", wine, width=32)  # not marked pretrained: last linear is the head
    learner = nr.Learner(model, wine, lr=1e-2, quiet=True, threads=1)
    learner.fine_tune(1, freeze_epochs=1)
    assert learner.transfer["phases"][1]["lr"] == pytest.approx([5e-5, 5e-4, 5e-3])
    assert learner.transfer["groups"][-1] == "head.linear"


def test_gain_over_scratch_is_recorded_for_the_report(wine: nr.Data, tmp_path) -> None:
    from nnrecipe.report.folder import RunFolder
    from nnrecipe.report.transfer import transfer_section
    from nnrecipe.train.transfer import compare_to_scratch

    tuned = nr.Learner(_body(wine), wine, quiet=True, threads=1, out=tmp_path)
    tuned.fine_tune(1)
    torch.manual_seed(1)
    scratch = nr.Learner(build_model("mlp", wine, width=32), wine, quiet=True, threads=1)
    scratch.fit(2)
    rec = compare_to_scratch(tuned, scratch)
    assert rec["gain"] == rec["fine_tuned"] - rec["score"]
    saved = json.loads((tmp_path / "transfer.json").read_text())
    assert saved["scratch"] == rec and [p["phase"] for p in saved["phases"]] == [
        "frozen",
        "unfrozen",
    ]
    html = transfer_section(RunFolder(tmp_path))  # the report's section reads the same file
    assert "from scratch" in html and "fine-tune curves" in html


def test_deliberately_frozen_parameters_are_not_params_not_updated(wine: nr.Data) -> None:
    model = _body(wine)
    learner = nr.Learner(model, wine, quiet=True, threads=1)
    learner.freeze()
    result = nr.check(model, wine, optimizer=adamw(1e-3))
    assert "params-not-updated" not in result.codes


@pytest.mark.slow  # two range tests on the default models: ~20 s each on a quiet core
@pytest.mark.parametrize("name", ["digits", "mnist1d"])
def test_lr_auto_lies_in_the_falling_region_of_the_range_test(name: str) -> None:
    data = nr.datasets.load(name)
    torch.manual_seed(0)
    learner = nr.Learner(build_model(None, data), data, lr="auto", quiet=True, threads=1)
    learner._setup()
    info = learner.lr_auto
    assert isinstance(learner.lr, float) and learner.lr == info["lr"]
    lo, hi = info["falling"]
    assert lo <= learner.lr <= hi and hi == info["lr_min"]
    # The same curve by nr.check: the loss there is clearly below its start and above the minimum.
    from nnrecipe.checks.transfer import range_test

    torch.manual_seed(0)
    r = range_test(build_model(None, data), data, optimizer=adamw(3e-3))
    i = min(range(len(r["lrs"])), key=lambda k: abs(math.log(r["lrs"][k] / learner.lr)))
    assert r["smooth"][i] < r["loss_start"] - 0.05 * (r["loss_start"] - r["loss_min"])
    assert r["lrs"][i] <= r["lr_min"]
    # Measured: digits cnn2d 0.038 (steepest descent; a tenth of the minimum, 0.0083, is on
    # the flat part), mnist1d cnn1d 0.0068 (a tenth of the minimum at 0.068).


def test_head_size_mismatch_of_a_pretrained_model_is_an_error(wine: nr.Data) -> None:
    torch.manual_seed(0)
    model = nr.models.new_head(build_model("mlp", wine, width=32), 7, source="test")
    result = nr.check(model, wine)
    assert [f.severity for f in result.findings if f.code == "head-size"] == ["error"]
    assert "head-size" not in nr.check(_body(wine), wine).codes


def test_unnormalised_inputs_to_a_pretrained_body_are_flagged(wine: nr.Data) -> None:
    raw = nr.Data.from_splits(
        wine.train.x * 5 + 3, wine.train.y, wine.valid.x * 5 + 3, wine.valid.y
    )
    assert "pretrained-input-scale" in nr.check(_body(raw), raw).codes
    assert "pretrained-input-scale" not in nr.check(_body(wine), wine).codes


def test_body_learning_rate_far_above_the_heads_optimum_is_flagged(wine: nr.Data) -> None:
    high = nr.check(_body(wine), wine, optimizer=adamw(3.0))
    assert "body-lr-too-high" in high.codes
    low = nr.check(_body(wine), wine, optimizer=adamw(1e-4))
    assert "body-lr-too-high" not in low.codes


_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, torch
    import nnrecipe as nr
    from nnrecipe.models import build_model
    out, kill_at = sys.argv[1], int(sys.argv[2])
    data = nr.datasets.load("wine")
    torch.manual_seed(0)
    model = build_model("mlp", data, width=32)
    nr.models.new_head(model, 3, source="test")
    done = []
    class Kill:
        def on_epoch_end(self, learner):
            done.append(1)
            if len(done) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    learner = nr.Learner(model, data, quiet=True, threads=1, out=out, patience=None,
                         callbacks=[Kill()] if kill_at else [])
    learner.fine_tune(4, freeze_epochs=3, resume=kill_at == 0 and len(sys.argv) > 3)
    torch.save({k: v for k, v in model.state_dict().items()}, os.path.join(out, "final.pt"))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [2, 5])  # inside the frozen phase, inside the unfrozen one
def test_fine_tune_resumes_bit_identically_after_sigkill(tmp_path, kill_at: int) -> None:
    script = tmp_path / "ft.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(script)]
    subprocess.run([*run, str(tmp_path / "whole"), "0"], check=True, env=env)
    killed = subprocess.run([*run, str(tmp_path / "cut"), str(kill_at)], env=env)
    assert killed.returncode == -signal.SIGKILL
    subprocess.run([*run, str(tmp_path / "cut"), "0", "resume"], check=True, env=env)
    a = torch.load(tmp_path / "whole" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "final.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    metrics = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 7 and "phase" in metrics[0]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "nnrecipe.cli", "run", *args, "--threads", "1", "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


@pytest.mark.slow  # resnet18 on 1,257 digits upsampled to 32x32, every stage: minutes on 1 core
def test_run_digits_with_a_torchvision_resnet18(tmp_path) -> None:
    out = tmp_path / "r18"
    done = _cli("digits", "--model", "resnet18", "--epochs", "2", "--force", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rec = json.loads((out / "transfer.json").read_text())
    assert rec["preprocess"]["gray_to_rgb"] and rec["preprocess"]["resize"] == [32, 32]
    assert rec["phases"] == []  # random weights: trained from scratch with fit
    assert "Transfer learning" in (out / "report.html").read_text()


@pytest.mark.slow  # two full runs of the default digits model
def test_run_with_pretrained_runs_body_fine_tunes_it(tmp_path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    assert _cli("digits", "--epochs", "2", "--out", str(src), "--force").returncode == 0
    done = _cli(
        "digits",
        "--epochs",
        "3",
        "--pretrained",
        str(src),
        "--lr",
        "auto",
        "--force",
        "--out",
        str(dst),
    )
    assert done.returncode == 0, done.stderr
    rec = json.loads((dst / "transfer.json").read_text())
    assert [p["phase"] for p in rec["phases"]] == ["frozen", "unfrozen"]
    assert rec["pretrained"] == f"run:{src}" and rec["lr_auto"]["lr"] > 0
    checks = json.loads((dst / "stages" / "checks.json").read_text())
    assert "lr-auto" in {f["code"] for f in checks["findings"]}
    html = (dst / "report.html").read_text()
    assert "fine-tune curves" in html and "--lr auto chose" in html
