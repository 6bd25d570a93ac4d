"""Segmentation metrics and losses agree with brute-force numpy loops over pixels (the oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnrecipe.tasks.segmentation import (
    Segmentation,
    cross_entropy_dice,
    dice_loss,
    per_image_cross_entropy,
    per_sample_dice,
)


def _oracle_scores(pred: np.ndarray, true: np.ndarray, k: int) -> dict:
    """Dice / IoU per class by counting pixels one at a time."""
    tp, fp, fn = [0] * k, [0] * k, [0] * k
    right = 0
    for p, t in zip(pred.reshape(-1).tolist(), true.reshape(-1).tolist(), strict=True):
        if p == t:
            tp[t] += 1
            right += 1
        else:
            fp[p] += 1
            fn[t] += 1
    dice, iou = [], []
    for c in range(k):
        if tp[c] + fp[c] + fn[c] == 0:
            dice.append(math.nan)
            iou.append(math.nan)
        else:
            dice.append(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]))
            iou.append(tp[c] / (tp[c] + fp[c] + fn[c]))
    seen = [c for c in range(k) if not math.isnan(dice[c])]
    fg = [c for c in seen if c > 0]
    return {
        "dice": dice,
        "mean_dice": sum(dice[c] for c in seen) / len(seen),
        "mean_iou": sum(iou[c] for c in seen) / len(seen),
        "foreground_dice": sum(dice[c] for c in fg) / len(fg) if fg else math.nan,
        "pixel_accuracy": right / pred.size,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_pixel_counting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 4
    logits = torch.from_numpy(rng.normal(size=(5, k, 7, 9)).astype(np.float32))
    y = torch.from_numpy(rng.choice(3, size=(5, 7, 9)))  # class 3 only ever predicted
    m = Segmentation(k).metrics(logits, y)
    o = _oracle_scores(logits.argmax(1).numpy(), y.numpy(), k)
    for key in ("mean_dice", "mean_iou", "foreground_dice", "pixel_accuracy"):
        assert m[key] == pytest.approx(o[key]), key
    for c in range(k):
        assert m[f"dice_{c}"] == pytest.approx(o["dice"][c])
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert m["nll"] == pytest.approx(float(ce), rel=1e-5)


def test_class_absent_everywhere_is_left_out_of_the_mean() -> None:
    # Perfect predictions of classes 0 and 1; class 2 never occurs: mean Dice is 1, not 2/3.
    y = torch.tensor([[[0, 1], [1, 0]]])
    logits = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).float() * 10
    m = Segmentation(3).metrics(logits, y)
    assert m["mean_dice"] == 1.0 and math.isnan(m["dice_2"])


def test_per_sample_dice_matches_counting() -> None:
    rng = np.random.default_rng(3)
    pred = torch.from_numpy(rng.choice(3, size=(4, 6, 6)))
    true = torch.from_numpy(rng.choice(3, size=(4, 6, 6)))
    got = per_sample_dice(pred, true, 3)
    for i in range(4):
        o = _oracle_scores(pred[i].numpy(), true[i].numpy(), 3)
        assert float(got[i]) == pytest.approx(o["mean_dice"])


def _oracle_soft_dice(logits: np.ndarray, y: np.ndarray, eps: float) -> float:
    k = logits.shape[1]
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    terms = []
    for n in range(y.shape[0]):
        for c in range(k):
            inter = size = 0.0
            for i in range(y.shape[1]):
                for j in range(y.shape[2]):
                    t = 1.0 if y[n, i, j] == c else 0.0
                    inter += p[n, c, i, j] * t
                    size += p[n, c, i, j] + t
            terms.append((2 * inter + eps) / (size + eps))
    return 1 - sum(terms) / len(terms)


def test_dice_loss_matches_loops_and_is_zero_when_perfect() -> None:
    # Per image: an image's loss does not depend on its batch-mates.
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3, 3, 5, 4)).astype(np.float32)
    y = rng.choice(3, size=(3, 5, 4))
    got = float(dice_loss(torch.from_numpy(logits), torch.from_numpy(y)))
    assert got == pytest.approx(_oracle_soft_dice(logits, y, 1.0), rel=1e-5)
    yt = torch.from_numpy(y)
    sure = torch.nn.functional.one_hot(yt, 3).movedim(-1, 1).float() * 50
    assert float(dice_loss(sure, yt)) == pytest.approx(0.0, abs=1e-5)
    assert float(cross_entropy_dice(sure, yt)) == pytest.approx(0.0, abs=1e-5)


def test_per_image_cross_entropy_averages_each_image() -> None:
    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.normal(size=(3, 2, 4, 4)).astype(np.float32))
    y = torch.from_numpy(rng.choice(2, size=(3, 4, 4)))
    got = per_image_cross_entropy(logits, y)
    for i in range(3):
        ce = torch.nn.functional.cross_entropy(logits[i : i + 1], y[i : i + 1])
        assert float(got[i]) == pytest.approx(float(ce), rel=1e-5)


def test_expected_init_loss_is_the_pixel_prior_entropy() -> None:
    y = torch.zeros(2, 4, 4, dtype=torch.long)
    y[0, :2] = 1  # 8 of 32 pixels are class 1
    task = Segmentation(2)
    p = np.array([0.75, 0.25])
    assert task.expected_init_loss(y) == pytest.approx(float(-(p * np.log(p)).sum()))
    bias = task.init_output(y)["bias"]
    logits = bias[None, :, None, None].expand(2, 2, 4, 4)
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert float(ce) == pytest.approx(task.expected_init_loss(y), rel=1e-5)


def test_dice_loss_of_one_image_does_not_depend_on_its_batch_mates() -> None:
    rng = np.random.default_rng(6)
    logits = torch.from_numpy(rng.normal(size=(4, 3, 5, 5)).astype(np.float32))
    y = torch.from_numpy(rng.choice(3, size=(4, 5, 5)))
    whole = float(dice_loss(logits, y))
    alone = sum(float(dice_loss(logits[i : i + 1], y[i : i + 1])) for i in range(4)) / 4
    assert whole == pytest.approx(alone, rel=1e-6)


def test_the_default_loss_is_chosen_by_a_task_option() -> None:
    import nnrecipe as nr

    for name, fn in (("dice", "dice_loss"), ("cross-entropy+dice", "cross_entropy_dice")):
        data = nr.datasets.load("shapes", task_options={"seg_loss": name})
        assert data.task.default_loss().__name__ == fn
    with pytest.raises(nr.DataError, match="seg_loss"):
        nr.datasets.load("shapes", task_options={"sag_loss": "dice"})
