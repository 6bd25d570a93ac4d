"""The skip-gram model with negative sampling (word2vec): an input and an output vector per
word; a pair's score is the dot product of the center's input vector and the other word's
output vector."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from nnrecipe.errors import ConfigError
from nnrecipe.models import register_model


class SkipGram(nn.Module):
    """``forward(rows)``: rows (B, 2 + k) of word ids ``[center, context, negatives...]`` ->
    (B, 1 + k) pair scores; rows ``[id, -1, ...]`` (the vocabulary split) -> (B, dim) vectors.

    Initialised like word2vec: input vectors uniform in +-0.5/dim, output vectors zero, so
    every pair scores 0 at init (loss log 2 per pair).
    """

    def __init__(self, n_words: int, dim: int = 100) -> None:
        super().__init__()
        self.inputs = nn.Embedding(n_words, dim)
        self.outputs = nn.Embedding(n_words, dim)
        nn.init.uniform_(self.inputs.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.outputs.weight)

    def vectors(self) -> Tensor:
        """(V, dim) the word vectors (the input vectors, as word2vec saves them)."""
        return self.inputs.weight

    def forward(self, rows: Tensor) -> Tensor:
        rows = rows.long()
        center = self.inputs(rows[:, 0])  # (B, D)
        if bool((rows[:, 1:] < 0).all()):
            return center
        others = self.outputs(rows[:, 1:].clamp_min(0))  # (B, 1 + k, D)
        return (others * center[:, None]).sum(-1)


@register_model("skipgram")
def _skipgram(data: Any, **options: Any) -> nn.Module:
    words = getattr(data.task, "words", None)
    if words is None:
        raise ConfigError(
            "Model 'skipgram' learns word vectors: use it with --task word-vectors on a corpus "
            "(the built-in 'lee', or 'text' with --task-option corpus=FILE)."
        )
    return SkipGram(len(words), int(options.get("width") or data.task.dim))
