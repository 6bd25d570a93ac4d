"""Finding codes of the training and evaluation stages."""

from nnrecipe.findings import Code

CODES = {
    "below-baseline": Code(
        "below-baseline",
        "The trained model does not beat a simple baseline on the validation split.",
        "A network that cannot beat the majority class or a linear model on the same inputs "
        "(or its task's own floors: the climatology for predicted distributions, input-space "
        "nearest neighbour for few-shot, mean ratings, random word vectors) is "
        "either broken (a bug in the model, the loss or the data pipeline), far too small, or "
        "trained far too briefly. Beating the simple baselines is the first proof that the model "
        "learns anything from its inputs; until then, tuning is wasted compute (Karpathy's "
        "recipe, step 2: simple baselines).",
        "Run `nnrecipe check` on the model and data to find silent bugs; make sure the model can "
        "overfit one batch; then train longer or use a bigger model.",
    ),
    "training-diverged": Code(
        "training-diverged",
        "The training loss became NaN or infinite.",
        "Once a loss is NaN every weight it touches becomes NaN and training cannot recover. The "
        "usual causes are a learning rate far too high, inputs with NaN/Inf or huge values, a log "
        "or division of zero in a custom loss, or exploding gradients without clipping.",
        "Lower the learning rate (run the learning-rate range test in `nnrecipe check`), audit the "
        "inputs for NaN/Inf (`nnrecipe audit`), standardise inputs, keep gradient clipping on. "
        "The last good checkpoint is kept in the run's .incomplete folder.",
    ),
    "lr-auto": Code(
        "lr-auto",
        "The learning rate was chosen from the range test (--lr auto)",
        "With ``lr='auto'`` nnrecipe runs the learning-rate range test of the checks and takes "
        "a tenth of the rate at the smoothed loss minimum (Smith 2017; fastai's lr_min / 10). "
        "When that tenth lies on the flat part of the curve, before the loss starts to fall, "
        "it takes the rate of steepest descent instead, so the rate is always inside the "
        "falling region. The finding records the rate, the rule and the region.",
        "Nothing to fix; pass a number to --lr to override the choice.",
    ),
}
