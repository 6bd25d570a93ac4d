"""Checks of the word-vectors task (`--task word-vectors`), restricted to the task. The loss at
init (log 2 per positive and per negative pair) is the generic `loss-at-init`, through the
task's `prior_output` (zero scores)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrecipe.checks.context import Context, _jsonable
from nnrecipe.findings import Code, Finding, Severity

TASKS = ("word-vectors",)
# negatives-not-smoothed-unigram: the draw of lee's train split (1.06M negatives over 1,750
# words) is 0.014 (total variation) from unigram^0.75; drawn from plain unigram counts 0.199,
# uniformly 0.363. Above 0.05 the sampler draws from another distribution.
MAX_TV = 0.05
# words-without-gradient: with min_count 5 and subsampling 1e-3 every word of lee is a center
# in the first epoch's draw (measured 0 unseen); a subsampling threshold of 1e-6 leaves 43.7%
# of the words out.
MAX_UNSEEN = 0.01

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "negatives-not-smoothed-unigram",
            "The negative samples are not drawn from the unigram distribution raised to 3/4",
            "Skip-gram with negative sampling contrasts each true (word, context) pair with "
            "noise words. Mikolov et al. found the unigram distribution raised to 3/4 clearly "
            "best: plain unigram counts draw mostly 'the' and 'of' (the vectors of rare words "
            "barely get negatives), a uniform draw mostly rare words (easy negatives that teach "
            "little).",
            "Draw negatives with probability proportional to count ** 0.75 (noise_power=0.75, "
            "the default).",
            tasks=TASKS,
        ),
        Code(
            "words-without-gradient",
            "Words of the vocabulary never appear in the training examples",
            "A word that is never a center word of a training example never gets a gradient on "
            "its vector: it keeps its random initial vector, and every similarity computed with "
            "it is noise. Subsampling that is too aggressive, a vocabulary built from another "
            "text than the training examples, or a window that drops words cause it.",
            "Use a subsampling threshold around 1e-3 to 1e-5 (sample), build the vocabulary "
            "from the training corpus, and raise min_count to drop words too rare to learn.",
            tasks=TASKS,
        ),
    )
}


def _finding(code: str, severity: str, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding(code, Severity(severity), message, _jsonable(evidence), CODES[code].fix)


def _train_rows(ctx: Context) -> np.ndarray:
    """Every training example of the data's train split (one epoch's draw)."""
    x = ctx.data.train.x
    return np.asarray(x if not hasattr(x, "numpy") else x.numpy())


def negatives_not_smoothed_unigram(ctx: Context) -> list[Finding]:
    """Total variation between the negatives drawn and counts ** 0.75."""
    task = ctx.task
    rows = _train_rows(ctx)
    v = len(task.words)  # type: ignore[attr-defined]
    drawn = np.bincount(rows[:, 2:].reshape(-1), minlength=v) / rows[:, 2:].size
    p = task.counts.astype(float) ** 0.75  # type: ignore[attr-defined]
    expected = p / p.sum()
    tv = 0.5 * float(np.abs(drawn - expected).sum())
    if tv <= MAX_TV:
        return []
    top = np.argsort(-drawn)[:5]
    return [
        _finding(
            "negatives-not-smoothed-unigram",
            "warning",
            f"The negatives drawn are {tv:.2f} (total variation) from the unigram distribution "
            "raised to 3/4: the most drawn are "
            + ", ".join(f"{task.words[i]!r} {drawn[i]:.1%}" for i in top)  # type: ignore[attr-defined]
            + ".",
            {"total_variation": tv, "negatives": int(rows[:, 2:].size)},
        )
    ]


def words_without_gradient(ctx: Context) -> list[Finding]:
    """Vocabulary words that are never the center of a training example."""
    task = ctx.task
    rows = _train_rows(ctx)
    v = len(task.words)  # type: ignore[attr-defined]
    seen = np.bincount(rows[:, 0], minlength=v) > 0
    unseen = np.flatnonzero(~seen)
    share = len(unseen) / v
    if share <= MAX_UNSEEN:
        return []
    return [
        _finding(
            "words-without-gradient",
            "warning",
            f"{len(unseen)} of the {v} vocabulary words ({share:.0%}) are never the center of "
            "a training example: their vectors stay random (e.g. "
            + ", ".join(repr(task.words[i]) for i in unseen[:5])  # type: ignore[attr-defined]
            + ").",
            {"unseen": int(len(unseen)), "vocabulary": v},
        )
    ]


CHECKS = [negatives_not_smoothed_unigram, words_without_gradient]
