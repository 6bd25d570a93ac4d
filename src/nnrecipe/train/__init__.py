"""Training: the Learner, schedules, checkpoints, callbacks."""

from nnrecipe._lazy import exports

__all__ = ["Learner", "fit", "adamw", "auto_batch_size"]
__getattr__, __dir__ = exports(
    __name__,
    {
        "Learner": "nnrecipe.train.learner",
        "fit": "nnrecipe.train.learner",
        "auto_batch_size": "nnrecipe.train.learner",
        "adamw": "nnrecipe.train.optim",
    },
)
