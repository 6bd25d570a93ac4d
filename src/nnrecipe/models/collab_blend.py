"""`collab-blend`: the dot-product model (`collab`) and an item autoencoder (I-AutoRec,
Sedhain et al. 2015) side by side, each trained on its own squared error, their ratings
averaged. The default model of the ratings task.

The autoencoder reads an item's column of the *training* ratings (a buffer of
``(n_items, n_users)``, 0 where a user did not rate it; valid and test ratings are never in
it), encodes it into `hidden` sigmoid units and decodes the rating of user ``u`` with user
``u``'s decoder row: ``z = <w_u, sigmoid(V r_i + c)> + d_u + b``, squashed into `y_range` like
the dot product. Both members see the same batches; a gradient hook (`_independent`) turns
the loss of the averaged rating into the mean of the members' own losses, so neither is
trained to make up for the other, while the loss the Learner reports stays the MSE of the
average. Each member's data gradient is half its own loss's, so the penalties (the same
per-rating hooks as `collab`) weigh twice what they weigh in `collab` alone: the settings
measured. Measured on movielens-100k (valid RMSE, random 80/20, the run's 20 epochs one-cycle
lr 3e-3, batch 256): see `bench/collab.py` and the table in `nnrecipe.models.collab`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.models import register_model
from nnrecipe.models.collab import FACTORS, L2, L2_BIAS, DotProductBias, _sizes

HIDDEN = 500
DECODER_L2 = 0.05  # per-rating penalty on the decoder rows the batch looks up (as `l2`)
ENCODER_DECAY = 8e-4  # L2 gradient added to the encoder weight at every step (λ/N, λ = 64)


def _independent(y: Tensor) -> Tensor:
    """The members' mean over dim 0 of `y` (K, B), with the gradient each member would get
    from its own batch-mean squared error: the MSE of the mean plus the members' variance,
    ``mean_k (y_k - t)² = (ȳ - t)² + mean_k (y_k - ȳ)²``, whose gradient the hook adds."""
    if y.requires_grad and y.shape[0] > 1:
        k, b = y.shape
        spread = y.detach() - y.detach().mean(0, keepdim=True)
        y.register_hook(lambda g: g + 2.0 / (k * b) * spread)
    return y.mean(0)


class CollabBlend(DotProductBias):
    """``forward(user (B,), item (B,)) -> (B,)``: the mean of the dot-product model's and the
    item autoencoder's ratings, each in `y_range`."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        y_range: tuple[float, float],
        ratings: Tensor | None = None,
        factors: int = FACTORS,
        l2: float = L2,
        l2_bias: float = L2_BIAS,
        hidden: int = HIDDEN,
        decoder_l2: float = DECODER_L2,
        encoder_decay: float = ENCODER_DECAY,
    ) -> None:
        super().__init__(n_users, n_items, y_range=y_range, factors=factors, l2=l2, l2_bias=l2_bias)
        # The training ratings, items x users (0: not rated); loaded with the weights.
        table = torch.zeros(n_items, n_users) if ratings is None else ratings.float()
        self.register_buffer("ratings", table)
        self.encoder = nn.Linear(n_users, hidden)
        self.decoder = nn.Embedding(n_users, hidden)
        self.decoder_bias = nn.Embedding(n_users, 1)
        nn.init.normal_(self.decoder.weight, std=0.01)
        nn.init.zeros_(self.decoder_bias.weight)
        self.autoencoder_bias = nn.Parameter(torch.zeros(1))
        self.decoder_l2, self.encoder_decay = decoder_l2, encoder_decay

    def autoencoder(self, user: Tensor, item: Tensor) -> Tensor:
        u, i = user.long().reshape(-1), item.long().reshape(-1)
        w = self.encoder.weight.view(self.encoder.weight.shape)  # a non-leaf: per-step hook
        if self.training and w.requires_grad and self.encoder_decay > 0:
            d, decay = w.detach(), self.encoder_decay
            w.register_hook(lambda g: g + decay * d)
        h = torch.sigmoid(nn.functional.linear(self.ratings[i], w, self.encoder.bias))
        rows = self.lookup(self.decoder, u, self.decoder_l2)
        z = (rows * h).sum(1) + self.decoder_bias(u)[:, 0] + self.autoencoder_bias
        return self.squash(z)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        return _independent(
            torch.stack([super().forward(user, item), self.autoencoder(user, item)])
        )

    @torch.no_grad()
    def init_from(self, task: Any, y_train: Tensor) -> None:
        super().init_from(task, y_train)
        self.autoencoder_bias.copy_(self.bias)


def ratings_table(data: Any, n_users: int, n_items: int) -> Tensor | None:
    """The training ratings as an (n_items, n_users) table, 0 where not rated; None when the
    data has no training inputs (a predictor rebuilding the model: the buffer is loaded)."""
    x = getattr(data.train, "x", None)
    if not isinstance(x, dict) or "user" not in x:
        return None
    table = torch.zeros(n_items, n_users)
    table[x["item"].long().reshape(-1), x["user"].long().reshape(-1)] = (
        data.train.targets().float().reshape(-1)
    )
    return table


@register_model("collab-blend")
def _collab_blend(data: Any, **options: Any) -> nn.Module:
    n_users, n_items, y_range = _sizes(data)
    if "width" in options:  # the config's width is the number of factors here
        options["factors"] = options.pop("width")
    options.pop("depth", None)
    options.pop("dropout", None)
    table = ratings_table(data, n_users, n_items)
    model = CollabBlend(n_users, n_items, y_range=y_range, ratings=table, **options)
    model.init_from(data.task, data.train.targets())
    return model
