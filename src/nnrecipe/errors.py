"""One small hierarchy for the errors a user can cause.

Every message says what was received, what was expected, and how to fix it, in one sentence.
The CLI maps any `NnrecipeError` to that sentence and exit code 2.
"""

from __future__ import annotations


class NnrecipeError(Exception):
    """Base class of the errors a user can cause (bad data, bad config, bad model)."""


class DataError(NnrecipeError, ValueError):
    """The data cannot be used as given: bad path, empty, corrupt, wrong shapes, NaN targets."""


class ConfigError(NnrecipeError, ValueError):
    """A configuration value is invalid or unknown."""


class ModelError(NnrecipeError, ValueError):
    """The model cannot be used with the data: wrong output size, crashes on a batch."""


class TrainingError(NnrecipeError, RuntimeError):
    """Training had to stop: non-finite loss, nothing to resume, finished run."""
