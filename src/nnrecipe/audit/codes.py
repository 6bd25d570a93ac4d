"""What each audit finding code means (for `nnrecipe explain CODE`)."""

from __future__ import annotations

from nnrecipe.findings import Code

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "duplicates",
            "Identical or near-identical samples repeated within a split",
            "Copies over-weight some samples in the loss and make the data look bigger than it is. "
            "Copies with different labels are contradictions the model cannot fit, and usually "
            "mean a labelling or export error. Found by hashing (exact copies) and a radius search "
            "on normalised samples (near copies: correlation >= 0.997 for images and signals).",
            "Keep one sample per group; fix the label where copies disagree; deduplicate before "
            "splitting.",
        ),
        Code(
            "split-leakage",
            "The same (or nearly the same) sample is in two splits",
            "A held-out sample with a copy in train measures memorisation, not generalisation: the "
            "validation or test score is inflated, and model selection is biased towards models "
            "that memorise. About 3% of CIFAR-10's test images have a near-duplicate in its "
            "training set.",
            "Deduplicate before splitting, and put near-copies (same person, same patient, same "
            "source photo) in the same split (group-aware splitting); drop the leaked held-out "
            "samples.",
        ),
        Code(
            "label-noise",
            "Labels that disagree with out-of-sample predictions (confident learning)",
            "A cheap model is trained with cross-validation; a sample whose given label it "
            "confidently contradicts, more than that class is usually contradicted, is a suspect "
            "(cleanlab's confident learning). Wrong labels cap the best achievable accuracy, add "
            "noise to the gradient and to the validation score. The severity follows the estimated "
            "fraction of wrong labels; a handful of ambiguous samples is normal.",
            "Look at the suspects (given vs predicted label) and relabel or drop the wrong ones; "
            "with many, clean labels with cleanlab, or use label smoothing or a noise-robust loss.",
        ),
        Code(
            "class-imbalance",
            "Some classes are rare (or missing from a split)",
            "With a 99:1 split, always predicting the majority class scores 99% accuracy while "
            "learning nothing; the rare classes get few gradient updates. Accuracy is the wrong "
            "metric then. A class missing from train can never be predicted; one missing from "
            "valid or test is never measured.",
            "Report balanced accuracy, macro-F1, per-class recall (binary: precision-recall AUC); "
            "weight the loss by inverse class frequency or oversample rare classes; collect more.",
        ),
        Code(
            "outliers",
            "Samples far from all training samples",
            "A sample whose nearest training neighbours are several times farther than usual is "
            "either a data error (wrong scaling, wrong file, sensor glitch) or a rare case the "
            "model will get wrong. Either way, it deserves a look before training.",
            "Look at them: remove or fix corrupt and mis-scaled samples; keep genuine rare cases "
            "and collect more like them.",
        ),
        Code(
            "corrupt-sample",
            "Unreadable, truncated or empty samples",
            "Files that cannot be decoded were skipped while loading (so the data is not what you "
            "think it is); blank images, flat signals and empty rows carry no information but "
            "keep a label, which teaches the model noise.",
            "Open the named files: delete or replace them (re-download truncated ones), then "
            "rerun; remove blank samples or fix the export that produced them.",
        ),
        Code(
            "non-finite",
            "NaN or Inf values where numbers are expected",
            "NaN and Inf propagate: one non-finite value in an input, target, output, loss or "
            "gradient turns the loss into NaN and the weights into garbage, silently. In the data "
            "it usually means missing values or a division by zero in preprocessing; during "
            "training, an exploding loss (learning rate too high, log of zero, no clipping).",
            "Data: drop those samples or fill missing values (e.g. with the training median). "
            "Training: lower the learning rate, clip gradients, use numerically stable losses "
            "(cross-entropy on logits), and check the inputs with `nnrecipe audit`.",
        ),
        Code(
            "constant-feature",
            "Features, channels or positions with no variance",
            "A column that never varies carries no information; in a table it usually means a "
            "broken join or a default value everywhere. A constant image channel often means a "
            "conversion error. Constant border pixels (as in MNIST) are normal.",
            "Drop the constant columns or channels, or fix the pipeline that produced them.",
        ),
        Code(
            "distribution-shift",
            "Train and held-out inputs are distinguishable",
            "If a classifier can tell training inputs from validation (or test) inputs well above "
            "chance, the held-out data comes from another distribution: the validation score "
            "then measures the mismatch as much as the model, and tuning on it misleads.",
            "Build a train-dev split (a slice of train held out): train-dev error vs valid error "
            "separates variance from mismatch; make the training data look like the target data, "
            "or check that every split is preprocessed the same way.",
        ),
        Code(
            "pixel-imbalance",
            "Some mask classes cover few pixels (or are missing from a split)",
            "In segmentation every pixel is a sample: a class covering 0.5% of the pixels gets "
            "few gradient updates, and pixel accuracy stays high while the model never predicts "
            "it. Its Dice swings with a handful of pixels. A class missing from the training "
            "masks can never be predicted; one missing from valid or test is never measured.",
            "Report per-class Dice (mean Dice, not pixel accuracy); weight the cross-entropy by "
            "inverse class frequency or add a Dice loss (loss='cross-entropy+dice'); crop or "
            "sample tiles around the rare class.",
            tasks=("segmentation",),
        ),
        Code(
            "empty-masks",
            "Masks that hold only the background",
            "An empty mask is either a true negative (an image without any object) or a missing "
            "annotation, which teaches the model that objects are background. When most masks "
            "are empty, predicting background everywhere already scores well.",
            "Look at the listed images: annotate the missing objects or drop the images; keep "
            "some true negatives, and crop tiles around objects if most are empty.",
            tasks=("segmentation",),
        ),
        Code(
            "mask-misaligned",
            "Masks do not line up with their images",
            "The boundaries of a correct mask fall on the image's edges. When they follow the "
            "edges better after mirroring, rotating or shifting the mask, the masks were flipped, "
            "transposed (H and W swapped), cropped or shifted differently from the images, or "
            "paired with the wrong images. The model then learns a blurred, shifted guess and no "
            "error is raised. nnrecipe measures the mean image gradient on the mask boundaries "
            "(relative to the mean gradient) for the mask as given and for those placements; it "
            "can tell only when the objects have visible edges.",
            "Apply exactly the same geometric transforms to image and mask (torchvision "
            "transforms v2 with tv_tensors.Mask), check the (H, W) axis order, and look at a few "
            "images with their masks overlaid.",
            tasks=("segmentation",),
        ),
        Code(
            "mask-interpolated",
            "Masks resized or warped with interpolation instead of nearest-neighbour",
            "Class indices are labels, not intensities: bilinear resizing of a mask puts class 1 "
            "between a background 0 and a class-2 object, and blurs 0/255 binary masks into "
            "values that are no class at all. Every object then gets a rim of a wrong class, "
            "which costs Dice on every border and teaches the model false classes.",
            "Resize and warp masks with nearest-neighbour only (PIL Image.NEAREST, "
            "F.interpolate(mode='nearest'), tv_tensors.Mask in torchvision transforms v2).",
            tasks=("segmentation",),
        ),
        Code(
            "target-leak",
            "One column alone predicts the target almost perfectly",
            "A one-feature model (a small decision tree, cross-validated on training rows) that "
            "predicts the target nearly without error on held-out folds means the column carries "
            "the answer: an id assigned in target order, a value computed from the label, a field "
            "filled in after the outcome. The model will learn the shortcut, score at 'human "
            "level' on the validation split, and fail on new data where the column is not there "
            "or means something else.",
            "Find out how the column was made; drop it (or use it as --group COLUMN) and rerun. "
            "If the column really is that predictive and available at prediction time, a neural "
            "network is not needed.",
        ),
        Code(
            "id-column",
            "A column unique per row (an id) is left out of the model",
            "A value that differs in every row cannot generalise: the model can only memorise it. "
            "nnrecipe leaves such columns out of the inputs (and still tests them for "
            "target-leak).",
            "Nothing to do for a real id; use --categorical COLUMN to feed it anyway, or "
            "--group COLUMN to keep the rows sharing a value in one split.",
        ),
        Code(
            "missing-target",
            "Rows whose target is missing were left out",
            "A row without a target cannot be trained on nor scored; like every tabular tool, "
            "nnrecipe leaves it out. Many such rows can mean a broken export or a join that "
            "failed.",
            "Fill in the known targets; check the export if many are missing.",
        ),
        Code(
            "cold-start",
            "Held-out ratings by users or of items that train never saw",
            "A user (item) without a training rating has no learned embedding: the model falls "
            "back on the mean and the other side's bias, so these ratings score like a baseline "
            "and pull the held-out RMSE up.",
            "Expected for new users; to measure warm-start quality split by user; to serve cold "
            "users, add side features (age, genre) or a popularity fallback.",
            tasks=("ratings",),
        ),
        Code(
            "duplicate-pair",
            "The same (user, item) pair is rated more than once",
            "Repeated pairs are over-weighted in the loss; a pair rated in train and again in a "
            "held-out split is predicted from memory, inflating the held-out score.",
            "Keep one rating per pair (the latest) or split by time.",
            tasks=("ratings",),
        ),
        Code(
            "rating-activity",
            "Very active users or very popular items dominate the ratings",
            "A handful of users or items holding a large share of the ratings dominate the loss "
            "and the metrics; bots and test accounts look like this.",
            "Look at them; drop bots, or cap the ratings per user.",
            tasks=("ratings",),
        ),
        Code(
            "code-shift",
            "A coded column (category, user or item id) is distributed differently across splits",
            "Integer codes mean something only through the encoder that made them. When a "
            "held-out split was encoded separately (an encoder fitted per split re-assigns the "
            "codes) or two id columns were swapped, code 3 means one level in train and another "
            "in valid: the model's predictions there are noise, and nothing crashes. Measured as "
            "the total-variation distance between the code frequencies, against a random re-split.",
            "Encode every split with the encoder fitted on the training rows; check that each "
            "input tensor gets the right column.",
        ),
        Code(
            "rating-range",
            "Ratings outside the model's y_range",
            "The collaborative-filtering models squash their output into y_range with a "
            "sigmoid: a rating outside it (ratings 0-100 with y_range 0-5.5) can never be "
            "predicted, the loss stays huge, and the gradients vanish in the saturated sigmoid.",
            "Leave y_range unset (it is inferred from the ratings) or set it slightly wider than "
            "the rating scale.",
            tasks=("ratings",),
        ),
    )
}
