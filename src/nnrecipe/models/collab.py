"""Collaborative-filtering models on ``{"user", "item"}`` index inputs (fastai's
`EmbeddingDotBias` and `EmbeddingNN`), both squashed into the task's `y_range`:
``lo + (hi - lo) * sigmoid(z)``.

- `collab`: ``z = <p_u, q_i> + b_u + b_i + b``, `factors` dimensions.
- `collab-nn`: ``z = MLP([p_u, q_i]) + b_u + b_i + b`` (embedding sizes from fastai's rule).

Both regularise the embeddings the way matrix factorisation does (Funk 2006, Koren et al.
2009): a penalty ``l2 * (|p_u|² + |q_i|²) + l2_bias * (b_u² + b_i²)`` per rating in the batch,
only on the rows the batch looks up (weight decay shrinks every row at every step, rare users
as much as active ones). The penalty is added to the embeddings' gradients in training mode (a
tensor hook), so the loss the Learner reports stays the plain MSE. The default model of the
ratings task is `collab-blend` (`nnrecipe.models.collab_blend`): this dot product averaged
with an item autoencoder.

Measured on movielens-100k (valid RMSE, random 80/20 split; the run's 20 epochs one-cycle lr
3e-3, AdamW weight decay 1e-2, batch 256, clip 1; best epoch; a loaded 2-core machine):

- first measurements (1 seed): without the penalty 0.915 at its best epoch and 1.07 at the
  end; l2 0.05: 0.918; 0.07: 0.907; 0.1: 0.906; 0.15: 0.907. Dropped (no gain): 100 or 200
  factors (0.911), y_range (0.8, 5.2) (0.905), SVD++ implicit factors (0.916), an MLP added
  to the dot product (0.92), four averaged dot products (0.944), embedding
  dropout 0.2 (0.909).
- 3 seeds, mean ± std, l2 0.1 and l2_bias = l2 unless said: the default then 0.9042 ± 0.0060;
  AdamW weight decay 0: 0.9040; 0.1: 0.9058; lr 1e-2: 0.9111; lr 1e-2 batch 1024: 0.9092;
  40 epochs: 0.9050; 20 factors: 0.9049; 200 factors l2 0.15: 0.9084, l2 0.2: 0.9186;
  l2_bias 0.01: 0.9021 ± 0.0061 (kept); l2_bias 0.001: 0.9019; five dot products trained
  independently (the blend's gradient hook) and averaged, l2_bias 0.01: 0.9002 ± 0.0051 at
  five times the cost.
- an item autoencoder alone (I-AutoRec, 500 units, trained item by item, 1 seed): 0.911 at
  its best epoch; averaged with the dot product (`collab-blend`, seed 0): 0.891 (the dot
  product alone on that split: 0.909). 3 seeds: `bench/collab.py`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.errors import ConfigError
from nnrecipe.models import register_model
from nnrecipe.models.tabular import embedding_size

FACTORS = 50
L2 = 0.1
L2_BIAS = 0.01  # the biases' own penalty (measured: 0.1 -> 0.01 lowers valid RMSE by 0.002)


def _penalise(e: Tensor, l2: float) -> Tensor:
    """`e` unchanged, with ``2 * l2 * e / B`` added to its gradient: the gradient of
    ``l2 * mean_b |e_b|²`` (the MSE is a batch mean too)."""
    if l2 > 0 and e.requires_grad:
        scale = 2.0 * l2 / e.shape[0]
        d = e.detach()  # not `e` itself: a hook holding its tensor is a cycle torch never frees
        e.register_hook(lambda g: g + scale * d)
    return e


class _Collab(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        y_range: tuple[float, float],
        l2: float,
        l2_bias: float = L2_BIAS,
    ):
        super().__init__()
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.bias = nn.Parameter(torch.zeros(1))  # set to logit(mean) by `init_from`
        self.register_buffer("y_range", torch.tensor([float(y_range[0]), float(y_range[1])]))
        self.l2 = l2
        self.l2_bias = l2_bias

    def lookup(self, emb: nn.Embedding, idx: Tensor, l2: float | None = None) -> Tensor:
        l2 = self.l2 if l2 is None else l2
        return _penalise(emb(idx.long().reshape(-1)), l2 if self.training else 0.0)

    def squash(self, z: Tensor) -> Tensor:
        lo, hi = self.y_range[0], self.y_range[1]
        return lo + (hi - lo) * torch.sigmoid(z)

    def biases(self, user: Tensor, item: Tensor) -> Tensor:
        bu = self.lookup(self.user_bias, user, self.l2_bias)[:, 0]
        bi = self.lookup(self.item_bias, item, self.l2_bias)[:, 0]
        return bu + bi + self.bias

    @torch.no_grad()
    def init_from(self, task: Any, y_train: Tensor) -> None:
        self.bias.copy_(task.init_output(y_train)["bias"].reshape(1))


class DotProductBias(_Collab):
    """``forward(user (B,), item (B,)) -> (B,)`` ratings in `y_range`."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        y_range: tuple[float, float],
        factors: int = FACTORS,
        l2: float = L2,
        l2_bias: float = L2_BIAS,
    ) -> None:
        super().__init__(n_users, n_items, y_range, l2, l2_bias)
        self.user_factors = nn.Embedding(n_users, factors)
        self.item_factors = nn.Embedding(n_items, factors)
        # Small factors: the model starts by predicting the mean rating for every pair.
        nn.init.normal_(self.user_factors.weight, std=0.01)
        nn.init.normal_(self.item_factors.weight, std=0.01)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        p = self.lookup(self.user_factors, user)  # (B, factors)
        q = self.lookup(self.item_factors, item)
        return self.squash((p * q).sum(1) + self.biases(user, item))


class CollabNN(_Collab):
    """Concatenated user and item embeddings → MLP, plus the biases; output in `y_range`."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        y_range: tuple[float, float],
        width: int = 100,
        dropout: float = 0.1,
        l2: float = L2,
        l2_bias: float = L2_BIAS,
    ) -> None:
        super().__init__(n_users, n_items, y_range, l2, l2_bias)
        self.user_factors = nn.Embedding(n_users, embedding_size(n_users))
        self.item_factors = nn.Embedding(n_items, embedding_size(n_items))
        nn.init.normal_(self.user_factors.weight, std=0.01)
        nn.init.normal_(self.item_factors.weight, std=0.01)
        d = self.user_factors.embedding_dim + self.item_factors.embedding_dim
        self.mlp = nn.Sequential(
            nn.Linear(d, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 1)
        )
        nn.init.zeros_(self.mlp[-1].weight)  # starts at the biases alone: the mean rating
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        h = torch.cat(
            [self.lookup(self.user_factors, user), self.lookup(self.item_factors, item)], 1
        )
        return self.squash(self.mlp(h)[:, 0] + self.biases(user, item))


def _sizes(data: Any) -> tuple[int, int, tuple[float, float]]:
    meta = data.meta.get("ratings")
    y_range = getattr(data.task, "y_range", None)
    if not meta or y_range is None:
        raise ConfigError(
            "Models 'collab', 'collab-nn' and 'collab-blend' need ratings data (nr.Data.from_ratings or "
            "--users/--items): use model 'mlp' or 'tabular' for other tables."
        )
    return int(meta["n_users"]), int(meta["n_items"]), tuple(y_range)  # type: ignore[return-value]


@register_model("collab")
def _collab(data: Any, **options: Any) -> nn.Module:
    n_users, n_items, y_range = _sizes(data)
    if "width" in options:  # the config's width is the number of factors here
        options["factors"] = options.pop("width")
    options.pop("depth", None)
    options.pop("dropout", None)
    model = DotProductBias(n_users, n_items, y_range=y_range, **options)
    model.init_from(data.task, data.train.targets())
    return model


@register_model("collab-nn")
def _collab_nn(data: Any, **options: Any) -> nn.Module:
    n_users, n_items, y_range = _sizes(data)
    options.pop("depth", None)
    model = CollabNN(n_users, n_items, y_range=y_range, **options)
    model.init_from(data.task, data.train.targets())
    return model
