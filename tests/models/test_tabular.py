"""Entity-embedding and collaborative-filtering models: sizes, ranges, init, regularisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.models.collab import DotProductBias
from nnrecipe.models.tabular import TabularModel, embedding_size


@pytest.mark.parametrize(("n", "size"), [(3, 3), (5, 4), (30, 11), (200, 31), (10**6, 600)])
def test_embedding_size_rule(n, size):
    # fastai's emb_sz_rule: min(600, round(1.6 * n ** 0.56))
    assert embedding_size(n) == size == min(600, round(1.6 * n**0.56))


def test_tabular_is_the_default_for_categorical_tables():
    data = nr.datasets.load("penguins")
    model = build_model(None, data)
    assert isinstance(model, TabularModel)
    assert [e.num_embeddings for e in model.embeds] == [5, 4, 5]  # levels + unseen + missing
    model.eval()
    x, y = data.valid.tensors()
    with torch.no_grad():
        out = model(**x)
    # Starts at the class prior: cross-entropy at init is the prior's entropy.
    prior = torch.bincount(data.train.y, minlength=3).float() / len(data.train.y)
    entropy = float(-(prior * prior.log()).sum())
    loss = float(torch.nn.functional.cross_entropy(out, y))
    assert abs(loss - entropy) < 0.05


def test_tables_without_categories_keep_one_tensor(tmp_path):
    df = pd.DataFrame(
        {"a": np.arange(50.0) * 0.3, "b": np.sin(np.arange(50.0)), "y": np.arange(50.0)}
    )
    df.to_csv(tmp_path / "t.csv", index=False)
    data = nr.Data.from_csv(tmp_path / "t.csv", target="y")
    assert isinstance(data.train.x, torch.Tensor) and data.train.x.shape[1] == 2
    assert "default_model" not in data.meta


def test_collab_output_in_y_range_and_starts_at_mean():
    data = nr.datasets.load("movielens-100k")
    model = build_model(None, data)
    assert isinstance(model, DotProductBias)
    x, y = data.valid.tensors()
    with torch.no_grad():
        out = model(**x)
    assert float(out.min()) > 0.5 and float(out.max()) < 5.5
    assert abs(float(out.mean()) - float(data.train.y.mean())) < 0.01


def test_collab_penalty_is_the_gradient_of_l2_per_rating():
    # Oracle: autograd of MSE + l2 * mean_b(|p_u|^2 + |q_i|^2 + b_u^2 + b_i^2).
    torch.manual_seed(0)
    a = DotProductBias(10, 8, y_range=(0.5, 5.5), factors=4, l2=0.3)
    b = DotProductBias(10, 8, y_range=(0.5, 5.5), factors=4, l2=0.0)
    b.load_state_dict(a.state_dict())
    u, i = torch.tensor([1, 2, 2, 5]), torch.tensor([3, 3, 7, 1])
    r = torch.tensor([4.0, 2.0, 5.0, 1.0])
    ((a(u, i) - r) ** 2).mean().backward()
    loss = ((b(u, i) - r) ** 2).mean()
    for emb, idx in ((b.user_factors, u), (b.item_factors, i), (b.user_bias, u), (b.item_bias, i)):
        loss = loss + 0.3 * (emb(idx) ** 2).sum(1).mean()
    loss.backward()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6), name
