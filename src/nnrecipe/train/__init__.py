"""Training: the Learner, schedules, checkpoints, callbacks."""

from nnrecipe.train.learner import Learner, auto_batch_size, fit
from nnrecipe.train.optim import adamw

__all__ = ["Learner", "fit", "adamw", "auto_batch_size"]
