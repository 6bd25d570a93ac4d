"""The finding codes of `nr.watch` (the user's own loop): what each means, why it matters, how
to fix it. `nnrecipe explain CODE` prints these; the watch checks take their default fix from
here. The watcher also reports ``non-finite``, ``params-not-updated`` and
``exploding-gradients``, explained in `nnrecipe.checks.codes`.
"""

from __future__ import annotations

from typing import Any

from nnrecipe.findings import Code, Finding, Severity, catalog

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "missing-zero-grad",
            "Gradients are carried from one optimizer step into the next",
            "``loss.backward()`` adds to ``param.grad``; it never replaces it. Without "
            "``optimizer.zero_grad()`` once per step, each step follows the sum of all past "
            "gradients: the effective step size grows with training and the direction lags "
            "behind the current batch. The loss still falls at first, so it looks like a "
            "learning rate that is too high (at toy scale validation accuracy peaks at 0.87 and "
            "falls to 0.70). nnrecipe reads one parameter's gradient before each backward: if it "
            "was never cleared since the previous optimizer step, the gradients were carried.",
            "Call ``optimizer.zero_grad()`` once per optimizer step (before the backward, or "
            "right after ``optimizer.step()``); to accumulate on purpose, clear after each step.",
        ),
        Code(
            "zero-grad-in-accumulation",
            "Gradients are cleared between the backward passes of one optimizer step",
            "Gradient accumulation sums the gradients of several micro-batches and steps once. "
            "With ``zero_grad()`` inside the micro-batch loop every backward starts from zero, so "
            "each step uses only the last micro-batch: the effective batch is k times smaller "
            "than intended and the learning rate tuned for it is too high (0.87 instead of 0.95 "
            "accuracy at toy scale). nnrecipe sees several backward passes before a step, each "
            "starting from a cleared gradient.",
            "Call ``optimizer.zero_grad()`` only right after ``optimizer.step()``, not before each "
            "micro-batch's backward; divide each micro-batch loss by the number of micro-batches.",
        ),
        Code(
            "eval-without-eval-mode",
            "An evaluation pass runs with dropout or BatchNorm in training mode",
            "``torch.no_grad()`` only stops gradient tracking; it does not switch layers to "
            "inference behaviour. Without ``model.eval()`` dropout still drops units and "
            "BatchNorm normalises with the batch's statistics (and updates its running "
            "statistics with the validation data): validation scores are lower and noisy "
            "(0.92-0.95 instead of 0.97 at toy scale), so early stopping and model selection "
            "pick epochs at random. nnrecipe flags passes under no_grad/inference_mode, or with "
            "no backward after them, taken while such modules are in training mode.",
            "Call ``model.eval()`` before evaluating and ``model.train()`` before training again "
            "(``with torch.no_grad():`` alone is not enough).",
        ),
        Code(
            "train-in-eval-mode",
            "Optimizer steps are taken while dropout or BatchNorm modules are in eval mode",
            "``model.eval()`` for validation that is never undone makes the following epochs "
            "train without dropout and with BatchNorm frozen to its running statistics: "
            "regularisation disappears, BatchNorm stops adapting, and the model overfits or "
            "trains worse, silently. BatchNorm layers frozen on purpose (parameters with "
            "``requires_grad=False``) are not reported.",
            "Call ``model.train()`` at the start of every training epoch (after each validation).",
        ),
        Code(
            "scheduler-before-optimizer",
            "A learning-rate scheduler is stepped before the first optimizer step",
            "Since PyTorch 1.1 ``scheduler.step()`` must come after ``optimizer.step()``. Called "
            "before it (the old order), the first value of the schedule is skipped: a warm-up "
            "starts one stage late, a step decay comes one epoch early, and with a per-batch "
            "call at the top of the loop every step uses the next step's rate.",
            "Call ``optimizer.step()`` first, then ``scheduler.step()``.",
        ),
        Code(
            "lr-collapse",
            "The learning rate falls by orders of magnitude within the first epoch",
            "A schedule sized in epochs (StepLR(step_size=30), ExponentialLR(0.9), "
            "CosineAnnealingLR(T_max=epochs)) but stepped after every batch runs through its "
            "whole decay in a few hundred steps: the learning rate is 1e-7 after one epoch and "
            "the model stops learning almost at once (accuracy 0.12 at toy scale). nnrecipe "
            "flags a rate that drops below 1/100 of its peak in the first epoch and stays there "
            "for most of the training; schedules sized in steps (one-cycle, warm-up + cosine) "
            "reach their floor only at the end.",
            "Step epoch-sized schedulers once per epoch (after the epoch's loop), or size the "
            "schedule in steps (``total_steps = epochs * len(loader)``) if you step per batch.",
        ),
        Code(
            "augmented-validation",
            "The same evaluation inputs differ from one evaluation pass to the next",
            "Random training transforms (flips, crops, noise) applied to the validation data, "
            "e.g. because the transforms were set on the data set before it was split, make every "
            "evaluation see different inputs: the validation score is lower than the model's "
            "true score and changes from one pass to the next even with the same weights "
            "(0.675, 0.675, 0.638 instead of 0.921 at toy scale). nnrecipe fingerprints each "
            "evaluation input (a fixed random projection) and compares two evaluation passes of "
            "the same size: in a deterministic pipeline every fingerprint reappears.",
            "Give the validation data its own deterministic transform (resize, to-tensor, "
            "normalise), and split the data before attaching the training transforms.",
        ),
    )
}


def finding(
    code: str,
    severity: str,
    message: str,
    evidence: dict[str, Any],
    fix: str | None = None,
) -> Finding:
    """A watch finding; the fix defaults to the code's."""
    if fix is None:
        known = CODES.get(code) or catalog().get(code)
        fix = known.fix if known else ""
    return Finding(code, Severity(severity), message, evidence, fix)
