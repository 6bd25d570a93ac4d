"""`tabular`: entity embeddings for tables (Guo & Berkhahn 2016; fastai's `tabular_learner`).

One embedding per categorical column, the continuous columns batch-normalised, both
concatenated into an MLP [Linear → ReLU → BatchNorm → Dropout] × len(layers) → `Head` (bias
from the class prior / the target mean, as the other built-ins).

Embedding size rule (fastai's `emb_sz_rule`): a column with n rows in its embedding table (its
training levels + unseen + missing) gets ``min(600, round(1.6 * n ** 0.56))`` dimensions: 4 for
a 3-level column, 10 for 30 levels, 27 for 200, 130 for 3,000.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nnrecipe.errors import ConfigError
from nnrecipe.models import register_model
from nnrecipe.models.builtin import Head


def embedding_size(n: int) -> int:
    """Embedding width for a categorical column with `n` codes (fastai's rule)."""
    return int(min(600, round(1.6 * n**0.56)))


class TabularModel(nn.Module):
    """Entity-embedding MLP: ``forward(cat (B, n_cat) long, cont (B, n_cont) float)``."""

    def __init__(
        self,
        cardinalities: list[int],
        n_cont: int,
        out_features: int,
        *,
        layers: tuple[int, ...] = (200, 100),
        dropout: float = 0.1,
        embed_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(n, embedding_size(n)) for n in cardinalities)
        for e in self.embeds:
            nn.init.trunc_normal_(e.weight, std=0.01)  # fastai's embedding init
        self.embed_drop = nn.Dropout(embed_dropout)
        self.bn_cont = nn.BatchNorm1d(n_cont) if n_cont else None
        d = sum(e.embedding_dim for e in self.embeds) + n_cont
        body: list[nn.Module] = []
        for width in layers:
            lin = nn.Linear(d, width)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
            body += [lin, nn.ReLU(), nn.BatchNorm1d(width), nn.Dropout(dropout)]
            d = width
        self.body = nn.Sequential(*body)
        self.head = Head(d, out_features)

    def embed(self, cat: Tensor) -> list[Tensor]:
        """(B, n_cat) codes -> one (B, dim_j) embedding per column."""
        return [e(cat[:, j]) for j, e in enumerate(self.embeds)]

    def forward(self, cat: Tensor | None = None, cont: Tensor | None = None) -> Tensor:
        parts = []
        if cat is not None and len(self.embeds):
            parts.append(self.embed_drop(torch.cat(self.embed(cat.long()), dim=1)))
        if cont is not None and self.bn_cont is not None:
            parts.append(self.bn_cont(cont.float()))
        return self.head(self.body(torch.cat(parts, dim=1)))


@register_model("tabular")
def _tabular(data: Any, **options: Any) -> nn.Module:
    table = data.meta.get("table")
    if not table or not table.get("categorical"):
        raise ConfigError(
            "Model 'tabular' embeds the categorical columns of a table read with "
            "Data.from_csv, and this data has none: use model 'mlp'."
        )
    cards = [len(levels) + 2 for levels in table["categorical"].values()]
    n_cont = len(table["continuous"]) + len(table.get("indicators") or [])
    width = options.pop("width", None)
    depth = options.pop("depth", None)
    if width is not None or depth is not None:
        w, d = width or 200, depth or 2
        options["layers"] = tuple(max(8, w // 2**i) for i in range(d))
    return TabularModel(cards, n_cont, data.task.output_size(), **options)
