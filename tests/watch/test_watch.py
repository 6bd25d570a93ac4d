"""`nr.watch` through its public API: it never changes the loop's numbers, always detaches, and
each code is reported once with its evidence."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler
from torch.optim import optimizer as optim_module

import nnrecipe as nr
from zoo import loops
from zoo.loops import BUGS, HEALTHY, run

CASES = {c.name: c for c in BUGS + HEALTHY}


def _hooks_state(model: torch.nn.Module) -> tuple:
    return (
        torch.Tensor.__dict__["backward"],
        torch.utils.data.DataLoader.__dict__["__iter__"],
        lr_scheduler.LRScheduler.__dict__["step"],
        lr_scheduler.ReduceLROnPlateau.__dict__["step"],
        torch.amp.GradScaler.__dict__["step"],
        len(optim_module._global_optimizer_post_hooks),
        len(optim_module._global_optimizer_pre_hooks),
        sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
    )


@pytest.mark.parametrize(
    "name",
    [
        "eval-mode-shuffled-valid",  # DataLoader, torchvision transforms, dropout, BatchNorm
        "mixed-precision",  # GradScaler, autocast, OneCycleLR
        "gan",  # two optimizers, no_grad generator passes
        "step-lr-per-batch",  # a planted bug: findings do not change the numbers either
    ],
)
def test_watching_never_changes_the_weights(name):
    watched, result = run(CASES[name])
    plain, _ = run(CASES[name], watched=False)
    assert result.stats["steps"] > 0
    a, b = watched.state_dict(), plain.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_exception_propagates_unchanged_and_hooks_are_gone():
    model = loops.mlp(dropout=0.2)
    before = _hooks_state(model)
    boom = ValueError("the user's own error")
    x, y, _, _ = loops.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError) as info:
        with nr.watch(model) as w:
            assert _hooks_state(model) != before  # attached inside the block
            for i, (xb, yb) in enumerate(loops.batches(x, y)):
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
                if i == 5:
                    raise boom
    assert info.value is boom
    assert _hooks_state(model) == before
    assert w.result.stats["steps"] == 6
    assert "ValueError" in w.result.stats["exception"]


def test_hooks_are_gone_after_a_normal_block():
    model = loops.CNN()
    before = _hooks_state(model)
    with nr.watch(model):
        loops.eval_mode_shuffled_valid(model)
    assert _hooks_state(model) == before


def test_result_is_an_nr_result_with_stage_watch():
    _, result = run(CASES["no-zero-grad"])
    assert isinstance(result, nr.Result) and result.stage == "watch"
    assert not result.ok  # missing-zero-grad is an error


def test_every_finding_is_reported_once():
    for name in ("no-zero-grad", "log-of-zero", "head-only-optimizer", "step-lr-per-batch"):
        _, result = run(CASES[name])
        codes = [f.code for f in result]
        assert len(codes) == len(set(codes)) or name == "head-only-optimizer", (name, codes)


def test_missing_zero_grad():
    _, result = run(CASES["no-zero-grad"])
    (f,) = [f for f in result if f.code == "missing-zero-grad"]
    # 3 epochs of 16 steps; the first step's window is the first after a clear-free start.
    assert f.evidence["first"] == {"step": 2, "epoch": 1}
    assert f.evidence["parameter"] == "2.bias"
    assert f.evidence["steps_carried"] == f.evidence["steps_observed"]
    assert "zero_grad" in f.fix


def test_zero_grad_in_accumulation():
    _, result = run(CASES["zero-grad-inside-accumulation"])
    (f,) = [f for f in result if f.code == "zero-grad-in-accumulation"]
    assert f.evidence["backwards_per_step"] == 4


def test_eval_without_eval_mode():
    _, result = run(CASES["eval-no-grad-only"])
    (f,) = [f for f in result if f.code == "eval-without-eval-mode"]
    assert f.evidence["modules"] == ["2"]  # the Dropout of the Sequential
    assert f.evidence["phases"] == 3 and f.evidence["no_grad_passes"] == 6


def test_train_in_eval_mode():
    _, result = run(CASES["eval-never-undone"])
    (f,) = [f for f in result if f.code == "train-in-eval-mode"]
    # model.eval() after epoch 1: epochs 2 and 3 (32 of 48 steps) train in eval mode.
    assert f.evidence["steps"] == 32 and f.evidence["first"] == {"step": 17, "epoch": 2}


def test_scheduler_before_optimizer():
    _, result = run(CASES["scheduler-first"])
    (f,) = [f for f in result if f.code == "scheduler-before-optimizer"]
    assert f.evidence["scheduler"] == "StepLR" and f.evidence["calls_before_first_step"] == 1


def test_lr_collapse():
    _, result = run(CASES["step-lr-per-batch"])
    (f,) = [f for f in result if f.code == "lr-collapse"]
    assert f.evidence["peak_lr"] == pytest.approx(0.1)
    assert f.evidence["lowest_lr"] < 1e-9
    assert f.evidence["collapsed_at"]["epoch"] == 1 and f.evidence["steps_per_epoch"] == 16


def test_augmented_validation():
    _, result = run(CASES["loader-transforms-before-split"])
    (f,) = [f for f in result if f.code == "augmented-validation"]
    assert f.evidence["samples"] == 128 and f.evidence["unmatched_share"] > 0.3


def test_non_finite():
    _, result = run(CASES["loader-nan-image"])
    (f,) = [f for f in result if f.code == "non-finite"]
    assert f.severity == "error" and {"output", "loss"} <= set(f.evidence)


def test_params_not_updated():
    _, result = run(CASES["head-only-optimizer"])
    (f,) = [f for f in result if f.code == "params-not-updated"]
    assert f.evidence["missing"] == ["0.weight", "0.bias"]
    _, result = run(CASES["detached-body"])
    (f,) = [f for f in result if f.code == "params-not-updated"]
    assert f.evidence["no_gradient"] == ["body.weight", "body.bias"]


def test_exploding_gradients():
    _, result = run(CASES["gd-above-stability-edge"])
    (f,) = [f for f in result if f.code == "exploding-gradients"]
    assert f.evidence["peak_norm"] > 1000 * f.evidence["early_norm"]
    assert f.evidence["peak"] == {"step": 100}  # sampled: steps 1-20, then every 25th
    assert result.codes == {"exploding-gradients"}  # still finite


def test_optimizer_passed_explicitly_sees_the_first_step():
    model = loops.mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y, _, _ = loops.blobs()
    with nr.watch(model, optimizer=opt) as w:
        for xb, yb in loops.batches(x, y):
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    (f,) = [f for f in w.result if f.code == "missing-zero-grad"]
    assert f.evidence["steps_observed"] == 16  # the first window counts too


def test_other_models_optimizers_are_ignored():
    model, other = loops.mlp(), loops.mlp()
    opt = torch.optim.SGD(other.parameters(), lr=0.05)
    x, y, _, _ = loops.blobs()
    with nr.watch(model) as w:
        for xb, yb in loops.batches(x, y):
            F.cross_entropy(other(xb), yb).backward()  # another model, no zero_grad
            opt.step()
    assert w.result.stats["steps"] == 0 and not w.result.findings


def test_every_code_is_explained():
    from nnrecipe.watch.codes import CODES

    for code in CODES:
        assert nr.explain(code).startswith(f"{code}: ")
    out = subprocess.run(
        [sys.executable, "-m", "nnrecipe.cli", "explain", "augmented-validation"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "fingerprint" in out.stdout


def test_bad_arguments_say_what_was_received():
    with pytest.raises(nr.ModelError, match="got str"):
        nr.watch("model")
    with pytest.raises(nr.ConfigError, match="got 0"):
        nr.watch(loops.mlp(), every=0)
    w = nr.watch(loops.mlp())
    with pytest.raises(nr.ConfigError, match="after the block"):
        w.result  # noqa: B018


def test_report_is_a_self_contained_page(tmp_path):
    torch.manual_seed(0)
    model = loops.mlp()
    with nr.watch(model) as w:
        loops.step_lr_per_batch(model)
    page = w.report(tmp_path / "my-loop")
    html = page.read_text()
    assert page.name == "report.html" and (tmp_path / "my-loop" / "watch.json").is_file()
    assert "lr-collapse" in html and "nnrecipe explain lr-collapse" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert "<svg" in html  # loss, gradient norm and learning-rate curves


def test_import_nnrecipe_does_not_import_lightning():
    code = "import sys, nnrecipe; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_deep_copy_inside_the_block_is_not_watched_and_keeps_working():
    import copy

    model = loops.mlp(dropout=0.2)
    x, y, xv, _ = loops.blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with nr.watch(model) as w:
        for xb, yb in loops.batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        best = copy.deepcopy(model)  # a best-model copy, as loops keep them
        best.train()
        with torch.no_grad():
            best(xv)  # the copy in train mode: not the watched model
    assert w.result.stats["forward_passes"] == 16 and not w.result.findings
    best(xv)  # the copied hook is inert after the block


def test_inputs_passed_as_keywords_are_fingerprinted():
    class Keywords(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = loops.mlp(bn=True)

        def forward(self, *, features: torch.Tensor) -> torch.Tensor:
            return self.net(features)

    model = Keywords()
    x, y, xv, _ = loops.blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with nr.watch(model) as w:
        for _ in range(2):
            model.train()
            for xb, yb in loops.batches(x, y):
                opt.zero_grad()
                F.cross_entropy(model(features=xb), yb).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                model(features=xv + 0.3 * torch.randn_like(xv))  # augmented validation
    assert "augmented-validation" in w.result.codes


def test_lbfgs_closure_is_not_accumulation():
    model = loops.mlp()
    x, y, _, _ = loops.blobs()
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)
    with nr.watch(model) as w:
        for xb, yb in loops.batches(x, y, 128):

            def closure(xb=xb, yb=yb):
                opt.zero_grad()  # the closure re-evaluates the loss several times per step
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                return loss

            opt.step(closure)
    assert w.result.stats["backward_passes"] > w.result.stats["steps"]
    assert not w.result.at_least("warning"), w.result


def test_a_failure_inside_the_watcher_never_breaks_the_loop():
    model = loops.mlp()
    x, y, _, _ = loops.blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with nr.watch(model) as w:
        w.recorder._fp_weights = None  # sabotage: the first evaluation fingerprint fails
        for xb, yb in loops.batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        with torch.no_grad():
            model(x)  # the watcher fails here, the loop goes on
        opt.step()
    assert w.result.stats["watch_failure"].startswith("AttributeError")
    assert w.result.stats["steps"] == 16  # what was recorded before is kept
