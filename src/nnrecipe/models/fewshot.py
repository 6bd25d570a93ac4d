"""The few-shot task's embedding network.

Images and signals get `ConvEmbedding`: two conv-BN-ReLU layers that keep the layout (pooled to
at most 8x8, or 16 steps), flattened, then a linear embedding layer. The modality's residual
CNN ends in a global average pool, which throws away where a stroke is: on 8x8 digits its
embeddings of unseen classes were worse than the raw pixels (5-way 1-shot 0.45 vs 0.72, see
`nnrecipe.tasks.fewshot`). Tables get the MLP body with a plain linear head.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from nnrecipe.models import MODELS, register_model

BODIES = {"image": "cnn2d", "sequence": "cnn1d", "tabular": "mlp"}
POOLED = {1: 16, 2: 8}  # the layout kept before flattening, per spatial dimension


class ConvEmbedding(nn.Module):
    """conv-BN-ReLU x `depth` at full resolution -> adaptive average pool to at most
    `POOLED[dims]` per side -> flatten -> dropout -> linear embedding (`head`)."""

    def __init__(
        self,
        in_channels: int,
        size: tuple[int, ...],
        out_features: int,
        *,
        dims: int,
        width: int = 32,
        depth: int = 2,
        dropout: float = 0.1,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(depth):
            layers += [
                conv(c, width, kernel, padding=kernel // 2, bias=False),
                bn(width),
                nn.ReLU(),
            ]
            c = width
        self.body = nn.Sequential(*layers)
        pooled = tuple(min(s, POOLED[dims]) for s in size)
        self.pool = nn.AdaptiveAvgPool1d(pooled) if dims == 1 else nn.AdaptiveAvgPool2d(pooled)
        self.drop = nn.Dropout(dropout)
        n = width
        for p in pooled:
            n *= p
        self.head = nn.Linear(n, out_features)
        for m in self.body:
            if isinstance(m, nn.Conv1d | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        # (B, C, *size) -> (B, width, *pooled) -> (B, width * prod(pooled)) -> (B, dim)
        return self.head(self.drop(self.pool(self.body(x)).flatten(1)))


@register_model("embedding")
def _embedding(data: Any, **options: Any) -> nn.Module:
    """The few-shot embedding net for `data`; its last layer is a default-initialised
    nn.Linear (the classification Head starts near zero, to predict the prior, which would
    start every embedding at the same point)."""
    shape = tuple(data.input_shape)
    if data.modality == "image" and len(shape) == 3:
        options = {"dropout": 0.0, **options}
        return ConvEmbedding(shape[0], shape[1:], data.task.output_size(), dims=2, **options)
    model = MODELS[BODIES[data.modality]](data, **options)
    model.head = nn.Linear(model.head.linear.in_features, data.task.output_size())
    return model
