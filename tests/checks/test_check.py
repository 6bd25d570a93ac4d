"""`nr.check`'s contract: never modifies the model, never raises on the user's bugs, fixed cost,
JSON-able results, one documented code per finding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.checks.codes import CODES
from nnrecipe.checks.context import TRAIN_SAMPLE

ISSUE_CODES = {
    "shape-mismatch",
    "loss-at-init",
    "output-is-probability",
    "batch-dependency",
    "params-not-updated",
    "cannot-overfit-batch",
    "input-ignored",
    "dead-units",
    "vanishing-gradients",
    "exploding-gradients",
    "lr-too-high",
    "lr-too-low",
    "input-scale",
    "target-scale",
    "non-finite",
    # issue 12 (transfer learning): checks/transfer.py
    "head-size",
    "pretrained-input-scale",
    "body-lr-too-high",
}


def blobs(n: int = 400, d: int = 6, classes: int = 3, seed: int = 0) -> tuple:
    """Gaussian blobs, standardised: an easy, learnable table."""
    g = np.random.default_rng(seed)
    y = g.integers(0, classes, n)
    x = g.standard_normal((n, d)).astype(np.float32) + 2.0 * np.eye(classes, d, dtype=np.float32)[y]
    x = (x - x.mean(0)) / x.std(0)
    cut = int(0.8 * n)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def small_mlp(d: int = 6, k: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, k))


def test_every_issue_code_is_explained():
    assert set(CODES) == ISSUE_CODES
    for code in ISSUE_CODES:
        text = nr.explain(code)
        assert code in text and "Why it matters" in text


def test_healthy_blobs_have_no_warning():
    result = nr.check(small_mlp(), blobs())
    assert result.ok and not result.at_least("warning"), str(result)


def test_check_does_not_modify_the_model():
    model = small_mlp()
    model.eval()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # A factory that closes over the user's model instead of using `params`.
    nr.check(model, blobs(), optimizer=lambda params: torch.optim.SGD(model.parameters(), lr=0.1))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and not model[0].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())


def test_factory_over_the_original_model_is_not_a_bug():
    model = small_mlp()
    result = nr.check(
        model, blobs(), optimizer=lambda params: torch.optim.Adam(model.parameters(), lr=3e-3)
    )
    assert "params-not-updated" not in result.codes


class Crashes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom in forward")


def test_crash_in_the_model_becomes_a_finding_quoting_it():
    result = nr.check(Crashes(), blobs())
    assert not result.ok
    assert any("boom in forward" in f.message for f in result.at_least("error"))


def test_crash_in_the_loss_becomes_a_finding_quoting_it():
    def loss(out, y):
        raise ValueError("bad loss here")

    result = nr.check(small_mlp(), blobs(), loss=loss)
    assert any("bad loss here" in f.message for f in result.at_least("error"))


def test_non_scalar_loss_is_a_shape_mismatch():
    result = nr.check(small_mlp(), blobs(), loss=nn.CrossEntropyLoss(reduction="none"))
    assert "shape-mismatch" in {f.code for f in result.at_least("error")}


def test_nan_targets_in_a_tuple_are_a_finding_not_an_exception():
    x, y, xv, yv = blobs()
    y = y.astype(np.float32)
    y[3] = np.nan
    result = nr.check(small_mlp(k=1), (x, y, xv, yv.astype(np.float32)), task="regression")
    assert "non-finite" in {f.code for f in result.at_least("error")}


def test_cost_does_not_grow_with_the_training_set():
    big = blobs(n=20000)
    result = nr.check(small_mlp(), big)
    assert result.stats["samples"]["train"] == TRAIN_SAMPLE < len(big[0])


def test_result_is_strict_json():
    result = nr.check(small_mlp(), blobs())
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["stage"] == "checks"
    assert "lr_range" in result.stats and "loss_at_init" in result.stats


def test_binary_float_targets_with_bce_are_classification():
    x, y, xv, yv = blobs(classes=2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    result = nr.check(
        model, (x, y.astype(np.float32), xv, yv.astype(np.float32)), loss=nn.BCEWithLogitsLoss()
    )
    assert not result.at_least("warning"), str(result)


def test_hard_coded_batch_size_is_batch_dependency():
    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            return self.fc(x.view(64, -1))  # works only for batches of 64

    result = nr.check(Fixed(), blobs())
    assert "batch-dependency" in {f.code for f in result.at_least("error")}


def test_not_a_module_is_a_model_error():
    with pytest.raises(nr.ModelError):
        nr.check("not a model", blobs())  # type: ignore[arg-type]


def test_seed_makes_the_check_reproducible():
    a = nr.check(small_mlp(), blobs(), seed=3).stats["loss_at_init"]
    b = nr.check(small_mlp(), blobs(), seed=3).stats["loss_at_init"]
    assert a == b


def test_global_rng_is_left_alone():
    model, data = small_mlp(), blobs()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    nr.check(model, data)
    assert torch.equal(torch.rand(3), expected)


def test_log_softmax_with_nll_is_healthy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3), nn.LogSoftmax(1))
    result = nr.check(model, blobs(), loss=nn.functional.nll_loss)
    assert not result.at_least("warning"), str(result)


def test_sigmoid_with_bce_loss_is_healthy():
    x, y, xv, yv = blobs(classes=2)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid(), nn.Flatten(0)
    )
    result = nr.check(
        model, (x, y.astype(np.float32), xv, yv.astype(np.float32)), loss=nn.BCELoss()
    )
    assert not result.at_least("warning"), str(result)


def test_more_outputs_than_classes_is_a_shape_warning():
    result = nr.check(small_mlp(k=5), blobs())
    assert any(f.code == "shape-mismatch" and f.severity == "warning" for f in result)
