"""What a user's loss says about the targets (binary cross-entropy wants 0/1 floats, ...)."""

from __future__ import annotations

_BCE_NAMES = (
    "BCEWithLogitsLoss",
    "BCELoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
)
_CE_NAMES = ("CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss")


def loss_name(loss: object) -> str:
    """The class name of a loss module, or the name of a loss function ("" for None)."""
    if loss is None:
        return ""
    return getattr(loss, "__name__", type(loss).__name__)


def wants_float_targets(loss: object) -> bool:
    """Binary cross-entropy losses take 0/1 float targets, not class indices."""
    return loss_name(loss) in _BCE_NAMES
