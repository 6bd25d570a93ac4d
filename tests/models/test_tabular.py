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
    a = DotProductBias(10, 8, y_range=(0.5, 5.5), factors=4, l2=0.3, l2_bias=0.05)
    b = DotProductBias(10, 8, y_range=(0.5, 5.5), factors=4, l2=0.0, l2_bias=0.0)
    b.load_state_dict(a.state_dict())
    u, i = torch.tensor([1, 2, 2, 5]), torch.tensor([3, 3, 7, 1])
    r = torch.tensor([4.0, 2.0, 5.0, 1.0])
    ((a(u, i) - r) ** 2).mean().backward()
    loss = ((b(u, i) - r) ** 2).mean()
    for emb, idx, l2 in (
        (b.user_factors, u, 0.3),
        (b.item_factors, i, 0.3),
        (b.user_bias, u, 0.05),
        (b.item_bias, i, 0.05),
    ):
        loss = loss + l2 * (emb(idx) ** 2).sum(1).mean()
    loss.backward()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6), name


def test_blend_members_get_the_gradients_of_their_own_losses():
    # Oracle: autograd of MSE(dot product) + MSE(autoencoder) over the same batch, halved
    # (the mean of the members' losses), without any penalty.
    from nnrecipe.models.collab_blend import CollabBlend

    torch.manual_seed(0)
    table = torch.zeros(8, 10)
    table[3, 1], table[7, 2] = 4.0, 5.0
    kw = {"y_range": (0.5, 5.5), "ratings": table, "factors": 4, "hidden": 6}
    a = CollabBlend(10, 8, l2=0.0, l2_bias=0.0, decoder_l2=0.0, encoder_decay=0.0, **kw)
    for p in a.parameters():  # away from the initial zeros: every gradient is non-trivial
        p.data.add_(0.3 * torch.randn_like(p))
    u, i = torch.tensor([1, 2, 2, 5]), torch.tensor([3, 3, 7, 1])
    r = torch.tensor([4.0, 2.0, 5.0, 1.0])
    a.eval()
    with torch.no_grad():
        assert torch.allclose(a(u, i), (DotProductBias.forward(a, u, i) + a.autoencoder(u, i)) / 2)
    a.train()
    ((a(u, i) - r) ** 2).mean().backward()
    got = {n: p.grad.clone() for n, p in a.named_parameters()}
    a.zero_grad()
    a.eval()
    own = ((DotProductBias.forward(a, u, i) - r) ** 2).mean()
    own = own + ((a.autoencoder(u, i) - r) ** 2).mean()
    (own / 2).backward()
    for n, p in a.named_parameters():
        assert torch.allclose(got[n], p.grad, atol=1e-6), n


def test_blend_reads_the_training_ratings_only():
    data = nr.datasets.load("movielens-100k")
    model = build_model(None, data)
    table = model.ratings
    tr, va = data.train.x, data.valid.x
    assert torch.equal(table[tr["item"], tr["user"]], data.train.y.float())
    seen = table[va["item"], va["user"]] != 0
    train_pairs = set(zip(tr["user"].tolist(), tr["item"].tolist(), strict=True))
    # A valid pair is non-zero in the table only if the same pair is also rated in train.
    assert all(
        (u, i) in train_pairs
        for u, i, s in zip(va["user"].tolist(), va["item"].tolist(), seen.tolist(), strict=True)
        if s
    )
