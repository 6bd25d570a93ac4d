"""The finding codes of `nr.check`: what each means, why it matters, how to fix it.

`nnrecipe explain CODE` prints these; the checks take their default fix from here.
"""

from __future__ import annotations

from nnrecipe.findings import Code

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code(
            "shape-mismatch",
            "The model's output and the targets do not fit together",
            "A loss given tensors of different shapes often does not fail: MSE between outputs of "
            "shape (N, 1) and targets of shape (N,) broadcasts to an (N, N) matrix and compares "
            "every output with every target, so the model learns to predict the batch mean and the "
            "loss still goes down a little. A model with fewer outputs than classes, labels outside "
            "0..C-1, or a dtype the loss does not accept fail at the first batch or, worse, train a "
            "model that can never predict some classes. nnrecipe checks the shapes, changes the "
            "targets of half a batch and verifies that the loss gradient of the other half does not "
            "move (a per-sample loss must not mix samples), and reports any crash of the model or "
            "loss with its exception.",
            "Make the output shape equal the target shape for regression (``out.squeeze(-1)`` or "
            "``y[:, None]``), give the last layer exactly C outputs for C classes with labels "
            "0..C-1, and pass integer (long) class labels to cross-entropy.",
        ),
        Code(
            "loss-at-init",
            "The loss before training is far from what a well-initialised model gives",
            "A freshly initialised classifier should be unsure: its loss is about log C (the "
            "entropy of the class prior when the last bias is set to log(prior)); a regressor that "
            "predicts the mean has an MSE equal to the target variance. A much larger loss means "
            "over-confident random predictions (last layer initialised too large, outputs scaled "
            "up, targets not centred); the first iterations are then spent only shrinking the "
            "outputs (the 'hockey stick' loss curve), and badly scaled outputs can saturate. A much "
            "smaller loss before any training means the loss is mis-computed or the labels leak "
            "into the inputs.",
            "Initialise the last layer with small weights and its bias to log(class prior) (or the "
            "target mean for regression); do not scale the outputs; check the loss's reduction.",
        ),
        Code(
            "output-is-probability",
            "The model applies softmax/sigmoid but the loss expects logits",
            "``nn.CrossEntropyLoss`` and ``BCEWithLogitsLoss`` apply log-softmax / log-sigmoid "
            "themselves. Feeding them probabilities squashes the logits into [0, 1]: the loss can "
            "no longer approach zero, gradients shrink as the model becomes confident, and "
            "training stalls at a mediocre accuracy without any error. ``NLLLoss`` given "
            "probabilities instead of log-probabilities gives a negative loss with the same effect.",
            "Return raw logits from ``forward`` (drop the final softmax/sigmoid) and apply softmax "
            "only when you need probabilities at prediction time; or use ``log_softmax`` with "
            "``NLLLoss``.",
        ),
        Code(
            "batch-dependency",
            "In eval mode, one sample's output depends on the other samples of the batch",
            "Predictions must not depend on which other samples happen to share the batch. A "
            "``view``/``reshape`` that mixes the batch dimension with the feature dimensions, "
            "statistics over the batch (``x - x.mean(0)``, BatchNorm with "
            "``track_running_stats=False`` or ``training=True`` at eval) make the model's output "
            "for a sample change with its batch-mates: validation scores depend on the batch size "
            "and order, and single-sample inference gives different answers. nnrecipe compares "
            "outputs for a batch, the same batch permuted, and sub-batches, and checks that the "
            "gradient of one output with respect to other samples' inputs is zero.",
            "Flatten with ``x.flatten(1)`` or ``x.view(x.shape[0], -1)``, never across the batch "
            "dimension; compute normalisation statistics per sample or keep running statistics "
            "for eval mode.",
        ),
        Code(
            "params-not-updated",
            "Trainable parameters get no gradient, are not in the optimizer, or do not change",
            "Parameters that never change keep their random initial values: a layer defined but "
            "not used in ``forward``, a ``.detach()`` / ``torch.no_grad()`` / ``.data`` in the "
            "forward pass, an optimizer built over only part of the model (or over another model's "
            "parameters), or a parameter group with learning rate 0. The model still trains (the "
            "rest of it learns) so nothing crashes. Parameters frozen on purpose with "
            "``requires_grad=False`` are not reported.",
            "Pass all trainable parameters to the optimizer (``opt = factory(model.parameters())``), "
            "remove ``detach``/``no_grad`` from the forward pass, use or delete unused layers, and "
            "freeze on purpose with ``p.requires_grad_(False)``.",
        ),
        Code(
            "cannot-overfit-batch",
            "The model cannot drive the loss on one small batch close to zero",
            "Any reasonable network can memorise a handful of samples. Trained on one small batch "
            "with regularisation off (no dropout, no weight decay) at a good learning rate, the "
            "loss must fall near zero within a few hundred steps. If it cannot, something limits "
            "the model no matter the data: a bottleneck, squashed or bounded outputs, a loss that "
            "does not match the task, gradients that do not reach the weights.",
            "Look for a layer that is too narrow, outputs squashed by tanh/sigmoid/scaling, a "
            "loss/target mismatch, or an activation applied to the logits; then re-run the check.",
        ),
        Code(
            "input-ignored",
            "The model does no better on held-out data with the real inputs than with zeroed inputs",
            "Karpathy's input-independent baseline: train once on the real inputs and once on "
            "all-zero inputs. The zero-input model can only learn the label prior. If the real one "
            "is no better on held-out data, the labels are not learnable from the inputs "
            "(labels misaligned with or shuffled against the inputs) or the model ignores its "
            "input (a zeroed, detached or overwritten input tensor).",
            "Check that inputs and labels stay aligned through loading, sorting, shuffling and "
            "augmentation (look at a few samples with their labels), and that ``forward`` uses "
            "its input.",
        ),
        Code(
            "dead-units",
            "A large fraction of ReLU-family units never activate",
            "A ReLU unit whose pre-activation is negative for every input outputs zero and gets "
            "zero gradient, so it never recovers: the capacity is lost. Large negative biases, "
            "weights initialised with the wrong sign or scale, inputs all on one side, or a "
            "learning rate that is too high kill units.",
            "Use He (kaiming) initialisation with zero biases, normalise the inputs, add "
            "BatchNorm before the ReLU, lower the learning rate, or use LeakyReLU/GELU.",
        ),
        Code(
            "vanishing-gradients",
            "Gradients shrink by orders of magnitude from the last layers to the first",
            "When the gradient reaching the first layers is thousands of times smaller than at "
            "the last hidden layer, the early layers barely learn: deep stacks of saturating "
            "activations (sigmoid, tanh), small initial weights, or many layers without "
            "normalisation or skip connections.",
            "Use ReLU-family activations with He initialisation, add normalisation layers "
            "(BatchNorm/LayerNorm) and residual connections, or make the network shallower.",
        ),
        Code(
            "exploding-gradients",
            "Gradients grow by orders of magnitude towards the first layers, or are huge",
            "Gradients that grow layer after layer (weights initialised too large, a layer "
            "applied many times with gain above one, no normalisation) make every step "
            "overshoot: the loss oscillates or becomes NaN, and only a tiny learning rate works.",
            "Initialise with He/Xavier scaling, add normalisation and residual connections, and "
            "clip the gradient norm (``clip=1.0``).",
        ),
        Code(
            "lr-too-high",
            "The learning rate is above the range where the loss decreases",
            "A learning-rate range test (Smith 2017) trains for a few steps while raising the "
            "learning rate exponentially and records the loss. The loss falls, reaches a minimum, "
            "then rises and diverges. A configured learning rate beyond that minimum makes "
            "training unstable: the loss jumps, units die, the result is worse than with a smaller "
            "rate, or the loss becomes NaN.",
            "Use the learning rate the range test suggests (about a tenth of the rate at the "
            "loss minimum; see the evidence and the range-test plot).",
        ),
        Code(
            "lr-too-low",
            "The learning rate is orders of magnitude below the useful range",
            "In the learning-rate range test the loss only starts to fall at rates much larger "
            "than the configured one. Training at the configured rate wastes most of the compute "
            "budget, and early stopping may stop a model that has barely moved.",
            "Use the learning rate the range test suggests (about a tenth of the rate at the "
            "loss minimum; see the evidence and the range-test plot).",
        ),
        Code(
            "input-scale",
            "The inputs reaching the first layer are far from unit scale",
            "Weights are initialised for inputs of roughly zero mean and unit variance. Raw "
            "0-255 pixels or features in the thousands give huge pre-activations and gradients "
            "at the first layer (and dominate weight decay); tiny inputs make the first layer "
            "learn slowly. nnrecipe measures what the first parametrised layer receives, so a "
            "model that normalises internally (BatchNorm first, a division by 255 in forward) "
            "is fine.",
            "Standardise the inputs with training-set statistics (per feature for tables, per "
            "channel for images and signals), e.g. pixels / 255 then (x - mean) / std.",
        ),
        Code(
            "target-scale",
            "Regression targets are far from unit scale and the model does not rescale its output",
            "A network initialised with unit-scale outputs has to grow its weights by orders of "
            "magnitude to predict targets in the thousands (or shrink them for targets around "
            "0.001): the first part of training is spent on the scale, the MSE and its gradients "
            "are huge or tiny, and weight decay fights the needed scale.",
            "Standardise the targets ((y - mean) / std with training statistics) and transform the "
            "predictions back, or give the last layer a scale and bias from the target std and "
            "mean (as nnrecipe's built-in Head does).",
        ),
        Code(
            "non-finite",
            "NaN or Inf in inputs, targets, outputs, loss or gradients",
            "One NaN propagates through every computation it touches: a single NaN input makes "
            "the loss NaN and the weights NaN after one step. NaN/Inf come from missing values "
            "in the data, division by a zero standard deviation during normalisation, log/sqrt of "
            "zero or negative numbers in the model or loss, or overflow.",
            "Fill or drop missing values, guard divisions with an epsilon, use numerically stable "
            "functions (log_softmax, BCEWithLogitsLoss, torch.clamp before log/sqrt).",
        ),
        Code(
            "body-lr-too-high",
            "A pretrained body trains at a learning rate far above what its new head can use",
            "A pretrained body already sits in a good region of weight space; a new head starts "
            "from random. When the body's learning rate is above the rate where the head alone "
            "learns best (the loss minimum of a range test with the body frozen), the large, noisy "
            "gradients that flow back from the random head overwrite the pretrained features in "
            "the first steps: catastrophic forgetting. The run then does no better than training "
            "from scratch.",
            "Train the head first with the body frozen, then unfreeze with smaller rates for "
            "earlier layers: learner.fine_tune(epochs) (or lr=(lo, hi) with hi at most the head's "
            "suggested rate).",
        ),
        Code(
            "pretrained-input-scale",
            "A pretrained body receives inputs without the normalisation its weights expect",
            "Pretrained weights were learned on inputs of one scale: torchvision's ImageNet "
            "weights on pixels in [0, 1] normalised with the ImageNet mean and std (about zero "
            "mean, unit std per channel); a run's model on nnrecipe's standardised inputs. Fed raw "
            "pixels (0..1 or 0..255) the first layers see activations of another scale, BatchNorm "
            "statistics and learned filters no longer fit, and the pretrained features are worth "
            "little until training has repaired them.",
            "Standardise the images per channel (nnrecipe's image folders and built-in data sets "
            "do), or pass normalise=True to nr.models.pretrained for inputs in [0, 1] so the "
            "weights' own mean/std are applied inside the model.",
        ),
        Code(
            "head-size",
            "A pretrained model's head does not have one output per class",
            "A pretrained classifier keeps the head of its source task (1000 outputs for "
            "ImageNet) unless it is replaced. Cross-entropy does not fail when the model has more "
            "outputs than classes: the model trains, wastes probability mass on classes that never "
            "occur, and its loss at init is log(1000) instead of log(C).",
            "Replace the head for the data's classes: nr.models.pretrained(name, num_classes=C), "
            "nr.models.new_head(model, C), or --pretrained runs/NAME (which always does).",
        ),
    )
}
