"""Segmentation through the stages: inference of the task, training with joint augmentation
(resumed exactly), baselines, the audit's mask checks and the codes that do not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnrecipe as nr
from nnrecipe.data.seg_builtin import make_shapes
from nnrecipe.models import UNet
from nnrecipe.tune.augment import TargetAugment, make_augment


def _small(n: int = 120, size: int = 16) -> nr.Data:
    x, y = make_shapes(n, size=size, seed=3)
    return nr.Data.from_arrays(x, y, valid=0.25, test=0.0, seed=0)


def test_masks_without_task_are_segmentation_and_wrong_sizes_are_refused() -> None:
    x, y = make_shapes(40, size=16, seed=0)
    assert nr.Data.from_arrays(x, y).task.name == "segmentation"
    with pytest.raises(nr.DataError, match=r"No task takes targets of shape \(40, 16, 8\)"):
        nr.Data.from_arrays(x, y[:, :, :8])


def test_binary_masks_as_0_255_arrays_are_refused_not_read_as_256_classes() -> None:
    x, y = make_shapes(20, size=16, seed=0)
    with pytest.raises(nr.DataError, match="only 0 and 255"):
        nr.Data.from_arrays(x, (y > 0).astype(np.uint8) * 255)


def test_image_augmentation_of_a_segmentation_task_moves_the_masks_too() -> None:
    data = _small()
    aug = make_augment("image", 0.5, task=data.task)
    assert isinstance(aug, TargetAugment)  # never the image-only augmenter: it would misalign


class _StopAt:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, learner: nr.Learner) -> None:
        if len(learner.history) == self.epoch:
            raise KeyboardInterrupt


def _unet() -> UNet:
    torch.manual_seed(0)
    return UNet(3, 4, width=4, depth=2)


@pytest.mark.slow  # 3 epochs of a small unet, twice: ~10-30 s on 2 cores
def test_augmented_training_resumes_bit_identical(tmp_path) -> None:
    data = _small()
    kw = {"quiet": True, "threads": 1, "patience": None, "batch_size": 16}
    full = _unet()
    aug = make_augment("image", 1.0, task=data.task)
    nr.Learner(full, data, augment=aug, out=tmp_path / "a", **kw).fit(epochs=3)
    part = _unet()
    with pytest.raises(KeyboardInterrupt):
        nr.Learner(part, data, augment=aug, out=tmp_path / "b", callbacks=[_StopAt(2)], **kw).fit(
            epochs=3
        )
    fresh = UNet(3, 4, width=4, depth=2)
    nr.Learner(fresh, data, augment=aug, out=tmp_path / "b", **kw).fit(epochs=3, resume=True)
    a, b = full.state_dict(), fresh.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_baselines_score_the_pixel_prior_and_a_per_pixel_linear_model() -> None:
    data = _small()
    res = nr.baselines(data)
    prior = data.task.prior(data.train.y)
    # The majority baseline predicts background everywhere: Dice 2p/(p+1) for background,
    # absent predictions score 0 for the other classes present.
    y = data.valid.y
    p_bg = float((y == 0).float().mean())
    expected = (2 * p_bg / (p_bg + 1)) / len(torch.unique(y))
    assert res["majority"]["valid"]["mean_dice"] == pytest.approx(expected, rel=1e-6)
    assert res["linear"]["valid"]["pixel_accuracy"] >= res["majority"]["valid"]["pixel_accuracy"]
    ent = float(-(prior[prior > 0] * np.log(prior[prior > 0])).sum())
    assert res["expected_loss_at_init"] == pytest.approx(ent)


def test_audit_of_masks_names_rare_classes_and_empty_masks() -> None:
    x, y = make_shapes(60, size=16, seed=0)
    y = np.where(y == 3, 0, y)  # no triangles left
    y[:40] = 0  # two thirds of the masks empty
    y[40:, 0, 0] = 3  # one triangle pixel in each of 20 masks: a class, and a very rare one
    data = nr.Data.from_arrays(x, y, valid=0.25, test=0.0, seed=0)
    result = nr.audit(data)
    codes = {f.code: f for f in result.at_least("warning")}
    assert "empty-masks" in codes and "pixel-imbalance" in codes
    assert {"label-noise", "class-imbalance"} <= set(result.stats["not_applicable"])


def test_mask_checks_find_nothing_on_class_labels() -> None:
    result = nr.audit(nr.datasets.load("digits"))
    mask_codes = {"pixel-imbalance", "empty-masks", "mask-misaligned", "mask-interpolated"}
    assert not mask_codes & set(result.codes)
    assert mask_codes <= set(result.stats["not_applicable"])  # said, not silently skipped


def test_unet_search_space_is_valid_and_builds_models() -> None:
    from nnrecipe.models import build_model
    from nnrecipe.tune.space import default_space, grid, split_params

    space = default_space("unet")
    combos = grid(space)
    assert {"lr", "width", "depth", "augment", "weight_decay"} <= set(combos)
    _, options = split_params({k: v[-1] for k, v in combos.items()})
    net = build_model("unet", _small(), **options)
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 4, 16, 16)
