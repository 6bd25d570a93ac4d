"""The finding codes of the task-specific checks (distribution, few-shot, word vectors), light
so that `nnrecipe explain` reads them without importing torch."""

from __future__ import annotations

from nnrecipe.findings import Code

DISTRIBUTION_CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "cdf-not-monotone",
            "The predicted CDF decreases somewhere or does not reach 1",
            "A CDF must rise from 0 to 1. Outputs read as the CDF at each bin edge (one sigmoid "
            "per edge) are not tied together: a model can predict a CDF that goes down, which is "
            "no distribution at all (negative probabilities), and whose quantiles and intervals "
            "are then ill-defined. A CDF that ends below 1 leaves probability beyond the last "
            "bin, where the score cannot see it.",
            "Predict bin logits and take softmax then cumulative sum (head=bins), which is "
            "monotone and reaches 1 by construction, or sort/cummax the per-edge outputs.",
            tasks=("distribution",),
        ),
        Code(
            "bins-miss-targets",
            "Targets fall outside the bins of the predicted CDF",
            "A binned CDF puts all its mass between the first and the last edge. A target beyond "
            "them can only be scored as a miss by the whole distance to the nearest edge, and no "
            "amount of training can fix it: the model cannot express that value.",
            "Let the bins span the training targets with a margin (the default), or widen the "
            "range option; transform heavy-tailed targets (log) before binning.",
            tasks=("distribution",),
        ),
        Code(
            "scale-collapse",
            "The predicted scale collapses towards zero",
            "A Gaussian head that predicts a scale far below the errors it makes is "
            "over-confident: its intervals cover almost nothing and its NLL explodes on new "
            "data. It comes from a scale output squashed at init (a tiny multiplier, a softplus "
            "of large negative values) or from a loss that rewards a small scale without the "
            "squared-error term that stops it (a mis-signed NLL).",
            "Predict log sigma with a bias at log(target std), use the Gaussian NLL or CRPS as "
            "given by the task, and check the loss's terms.",
            tasks=("distribution",),
        ),
    )
}


FEWSHOT_CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "embeddings-collapse",
            "The embeddings of different samples (nearly) coincide",
            "An embedding that maps every input to the same point makes a contrastive loss "
            "small on the positive pairs and tells no two classes apart: every episode is a "
            "guess. It comes from an output that ignores the input (a zeroed or detached "
            "path, a ReLU before the embedding with large negative biases) or from a margin so "
            "small that pushing negatives apart is never needed.",
            "Make the last layer linear (no ReLU or squashing), check that forward uses its "
            "input, and use a margin of the order of the distances (0.5 on unit embeddings).",
            tasks=("few-shot",),
        ),
        Code(
            "margin-never-active",
            "No negative pair (or triplet) is inside the margin",
            "A contrastive loss only pushes apart negative pairs closer than the margin, a "
            "triplet loss only acts on triplets that violate it. When none does, the negative "
            "term contributes nothing: the loss only pulls positives together, which a "
            "collapsed embedding satisfies.",
            "Use a margin comparable to the distances between embeddings (0.5 for the "
            "contrastive, 0.2 for the triplet loss on unit-length embeddings).",
            tasks=("few-shot",),
        ),
        Code(
            "pairs-one-sided",
            "The training batches hold only positive or only negative pairs",
            "A Siamese loss learns from the contrast between pairs of the same class and pairs "
            "of different classes. With one training class every pair is positive (nothing "
            "pushes apart: collapse); with hundreds of classes and small batches almost no pair "
            "is positive (nothing pulls together).",
            "Keep at least two training classes (fewshot_classes names the held-out ones), and "
            "use batches with several samples per class (a larger batch size).",
            tasks=("few-shot",),
        ),
    )
}


WORD_VECTOR_CODES: dict[str, Code] = {
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
            tasks=("word-vectors",),
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
            tasks=("word-vectors",),
        ),
    )
}


CODES: dict[str, Code] = {**DISTRIBUTION_CODES, **FEWSHOT_CODES, **WORD_VECTOR_CODES}
