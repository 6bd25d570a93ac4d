"""The built-in unet: output size equals input size for any H, W; loss at init from the prior."""

from __future__ import annotations

import pytest
import torch

import nnrecipe as nr
from nnrecipe.models import UNet, build_model


@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 47), (7, 5), (64, 20)])
def test_output_has_the_input_spatial_size(h: int, w: int) -> None:
    torch.manual_seed(0)
    net = UNet(2, 3, width=4, depth=3).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 2, h, w))
    assert out.shape == (2, 3, h, w)


def test_loss_at_init_is_the_pixel_prior_entropy() -> None:
    data = nr.datasets.load("shapes")
    torch.manual_seed(0)
    net = build_model("unet", data).eval()
    x, y = data.train.x[:64], data.train.y[:64]
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(net(x), y))
    expected = data.task.expected_init_loss(data.train.y)
    # Measured: 0.69 against an expected 0.69; a zero-bias head gives log 4 = 1.39.
    assert abs(loss - expected) < 0.03


def test_every_pixel_sees_its_neighbourhood_only_through_the_image() -> None:
    # The padding for odd sizes must not mix samples or leak across the batch.
    torch.manual_seed(0)
    net = UNet(1, 2, width=4, depth=2).eval()
    x = torch.randn(3, 1, 13, 11)
    with torch.no_grad():
        together = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)
