"""Finding codes of the bias/variance diagnosis (Andrew Ng's recipe), each with its next step."""

from __future__ import annotations

from nnrecipe.findings import Code

# Ng's table: which gap is largest decides what to work on next.
NEXT_STEP = {
    "avoidable-bias": "Train a bigger model, train longer or with a better optimizer / schedule, "
    "or search a better architecture (nnrecipe tune).",
    "variance": "Get more training data, regularize (weight decay, dropout, data augmentation, "
    "early stopping), or use a smaller model.",
    "data-mismatch": "Do error analysis on valid vs train-dev, then make the training data look "
    "like the validation data (collect or synthesize such samples, augment).",
    "overfit-to-valid": "Get a bigger validation set, and tune less against it.",
    "test-set-reuse": "Stop evaluating on this test set; draw a fresh one for the final number.",
    "at-human-level": "Get a better estimate of the Bayes error, more data, or a harder goal: the "
    "gaps are within noise.",
}

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "avoidable-bias",
            "Training error is well above human-level (Bayes) error",
            "The model does not even fit the data it trains on as well as a human would: it is "
            "too small, undertrained, or badly optimized. More data and regularization do not "
            "help a model that underfits.",
            NEXT_STEP["avoidable-bias"],
        ),
        Code(
            "variance",
            "Error on unseen data from the training distribution is well above training error",
            "The model memorizes its training samples instead of generalizing (train-dev, or "
            "valid when there is no train-dev split, is much worse than train).",
            NEXT_STEP["variance"],
        ),
        Code(
            "data-mismatch",
            "Validation error is well above train-dev error",
            "Train-dev comes from the training distribution but was not trained on; if the "
            "model generalizes there but not to valid, the validation data differs from the "
            "training data (other sources, devices, periods, preprocessing).",
            NEXT_STEP["data-mismatch"],
        ),
        Code(
            "overfit-to-valid",
            "Test error is well above validation error",
            "Choices made by looking at the validation set (early stopping, tuning) fitted its "
            "noise: the validation error is optimistic.",
            NEXT_STEP["overfit-to-valid"],
        ),
        Code(
            "test-set-reuse",
            "The test set was evaluated more than once",
            "Every look at the test set that can influence a decision turns it into a second "
            "validation set, and the final error stops being unbiased (like a leaderboard that "
            "allows few submissions). nnrecipe counts evaluations in the run folder.",
            NEXT_STEP["test-set-reuse"],
        ),
        Code(
            "at-human-level",
            "No gap is larger than the noise of the error estimates",
            "Train, train-dev, valid and test errors agree with each other and with the "
            "human-level error within their statistical uncertainty.",
            NEXT_STEP["at-human-level"],
        ),
    )
}
