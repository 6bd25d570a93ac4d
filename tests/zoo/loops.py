"""The loop zoo: users' own training loops, with planted bugs (each with the code that names it)
and healthy loops, for `nr.watch`.

Each case has ``model()`` (a fresh, seeded model) and ``train(model)`` (the user's loop: it
creates its optimizer, scheduler and loaders itself). ``run(case)`` trains one watched and
returns the `Result`. Disguises: plain loops on tensors, DataLoader loops with torchvision
transforms, Lightning modules (in `loops_lightning.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, random_split

import nnrecipe as nr


@dataclass(frozen=True)
class Loop:
    name: str
    disguise: str  # "plain", "dataloader", "lightning"
    expect: str | None  # the code that names the planted bug; None for a healthy loop
    model: Callable[[], nn.Module]
    train: Callable[[nn.Module], None]
    what: str = ""


def run(case: Loop, *, watched: bool = True) -> tuple[nn.Module, nr.Result | None]:
    """Build the case's model and train it (inside ``nr.watch`` when `watched`)."""
    torch.manual_seed(0)
    model = case.model()
    torch.manual_seed(1)
    if not watched:
        case.train(model)
        return model, None
    with nr.watch(model) as w:
        case.train(model)
    return model, w.result


# -- data and models -----------------------------------------------------------------------------
@cache
def blobs(n: int = 640, d: int = 16, k: int = 4) -> tuple[torch.Tensor, ...]:
    """Gaussian blobs: (x_train, y_train, x_valid, y_valid), 512 / 128 samples."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(k, d, generator=g) * 1.5
    y = torch.randint(0, k, (n,), generator=g)
    x = centres[y] + torch.randn(n, d, generator=g)
    return x[:512], y[:512], x[512:], y[512:]


@cache
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8x8 digits as (N, 1, 8, 8) standardised images and labels (offline, scikit-learn)."""
    from sklearn.datasets import load_digits

    b = load_digits()
    x = torch.tensor(b.data, dtype=torch.float32).reshape(-1, 1, 8, 8)
    x = (x - x.mean()) / x.std()
    return x[:640], torch.tensor(b.target)[:640]


def batches(x: torch.Tensor, y: torch.Tensor, size: int = 32) -> Iterator[tuple[torch.Tensor, ...]]:
    order = torch.randperm(len(x))
    for i in range(0, len(x), size):
        idx = order[i : i + size]
        yield x[idx], y[idx]


def mlp(*, dropout: float = 0.0, bn: bool = False, d: int = 16, k: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d, 64)]
    if bn:
        layers.append(nn.BatchNorm1d(64))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(64, k)]
    return nn.Sequential(*layers)


class CNN(nn.Module):
    def __init__(self, *, bn: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8) if bn else nn.Identity(),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x).flatten(1)))


class Images(Dataset):
    """Images with an optional per-sample transform (torchvision), as users write them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: Callable | None = None) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        xi = self.x[i]
        return (self.transform(xi) if self.transform else xi), self.y[i]


def train_transform() -> Callable:
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomCrop(8, padding=1)])


def loaders(
    *, leak_transforms: bool = False, shuffle_valid: bool = False
) -> tuple[DataLoader, DataLoader]:
    """Train/valid loaders over the digits; `leak_transforms`: the training transforms are set
    on the whole data set before the split (the validation images are augmented too)."""
    x, y = digits()
    g = torch.Generator().manual_seed(0)
    if leak_transforms:
        train_set, valid_set = random_split(
            Images(x, y, train_transform()), [512, 128], generator=g
        )
    else:
        order = torch.randperm(len(x), generator=g).tolist()
        train_set = Subset(Images(x, y, train_transform()), order[:512])
        valid_set = Subset(Images(x, y), order[512:])
    return (
        DataLoader(train_set, batch_size=32, shuffle=True),
        DataLoader(valid_set, batch_size=64, shuffle=shuffle_valid),
    )


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    model.train()
    return acc


def evaluate_loader(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        for xb, yb in loader:
            right += int((model(xb).argmax(1) == yb).sum())
    model.train()
    return right / len(loader.dataset)


# -- planted bugs: plain loops -------------------------------------------------------------------
def no_zero_grad(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        for xb, yb in batches(x, y):
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()  # planted: optimizer.zero_grad() never called
            opt.step()
        evaluate(model, xv, yv)


def zero_grad_inside_accumulation(model: nn.Module) -> None:
    x, y, _, _ = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    accum = 4
    for _ in range(2):
        for i, (xb, yb) in enumerate(batches(x, y, 16)):
            opt.zero_grad()  # planted: inside the micro-batch loop
            (F.cross_entropy(model(xb), yb) / accum).backward()
            if (i + 1) % accum == 0:
                opt.step()


def eval_no_grad_only(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        model.train()
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        with torch.no_grad():  # planted: no model.eval(), dropout still on
            for xb, _ in batches(xv, yv, 64):
                model(xb)


def eval_never_undone(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(3):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        model.eval()  # planted: model.train() never called again
        with torch.no_grad():
            model(xv)


def scheduler_first(model: nn.Module) -> None:
    x, y, _, _ = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()  # planted: the pre-1.1 order, at the top of the epoch
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()


def step_lr_per_batch(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)  # sized in epochs
    for _ in range(3):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            sched.step()  # planted: per batch
        evaluate(model, xv, yv)


def noisy_validation(model: nn.Module) -> None:
    x, y, xv, yv = blobs()

    def augment(xb: torch.Tensor) -> torch.Tensor:
        return xb + 0.3 * torch.randn_like(xb)

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(augment(xb)), yb).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(xv), 64):
                model(augment(xv[i : i + 64]))  # planted: the training augmentation
        model.train()


def head_only_optimizer(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model[-1].parameters(), lr=1e-3)  # planted: only the last layer
    for _ in range(2):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        evaluate(model, xv, yv)


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(16, 64)
        self.head = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).relu().detach())  # planted: the body gets no gradient


def plain_train(model: nn.Module, *, lr: float = 1e-3, epochs: int = 2) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        evaluate(model, xv, yv)


def log_of_zero(model: nn.Module) -> None:
    x, y, _, _ = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            p = model(xb).softmax(1).clamp(max=1.0)
            p = p * (p > 0.3)  # planted: probabilities zeroed, then log
            F.nll_loss(p.log(), yb).backward()
            opt.step()


def sgd_lr_too_high(model: nn.Module) -> None:
    x, y, _, _ = blobs()
    target = (x @ torch.linspace(-1, 1, 16))[:, None] * 10
    opt = torch.optim.SGD(model.parameters(), lr=0.008)  # planted: far too high for this scale
    for _ in range(3):
        for xb, tb in batches(x, target):
            opt.zero_grad()
            F.mse_loss(model(xb), tb).backward()
            opt.step()


def gd_above_stability_edge(model: nn.Module) -> None:
    x, y, _, _ = blobs()
    target = (x @ torch.linspace(-1, 1, 16))[:, None]
    xa = torch.cat([x, torch.ones(len(x), 1)], 1)
    top = float(torch.linalg.eigvalsh(2 * xa.T @ xa / len(x)).max())  # MSE's largest curvature
    opt = torch.optim.SGD(model.parameters(), lr=2.2 / top)  # planted: above 2 / curvature
    for _ in range(120):  # full-batch gradient descent: the error grows 1.2x per step
        opt.zero_grad()
        F.mse_loss(model(x), target).backward()
        opt.step()


# -- planted bugs: DataLoader + transforms -------------------------------------------------------
def loader_no_zero_grad(model: nn.Module) -> None:
    train, valid = loaders()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for xb, yb in train:
            F.cross_entropy(model(xb), yb).backward()  # planted: no zero_grad
            opt.step()
        evaluate_loader(model, valid)


def loader_model_zero_grad_in_accumulation(model: nn.Module) -> None:
    train, _ = loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(2):
        for i, (xb, yb) in enumerate(train):
            model.zero_grad()  # planted: clears every micro-batch
            (F.cross_entropy(model(xb), yb) / 2).backward()
            if i % 2 == 1:
                opt.step()


def loader_eval_with_grad_in_train_mode(model: nn.Module) -> None:
    train, valid = loaders()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        losses = [F.cross_entropy(model(xb), yb).item() for xb, yb in valid]  # planted: train mode
        del losses


def loader_train_once(model: nn.Module) -> None:
    train, valid = loaders()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()  # planted: only once, before the epochs
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for xb, _ in valid:
                model(xb)


def loader_one_cycle_scheduler_first(model: nn.Module) -> None:
    train, _ = loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=2 * len(train) + 1)
    for _ in range(2):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            sched.step()  # planted: before optimizer.step()
            opt.step()


def loader_exponential_per_batch(model: nn.Module) -> None:
    train, valid = loaders()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.7)  # meant per epoch
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            sched.step()  # planted: per batch
        evaluate_loader(model, valid)


def loader_transforms_before_split(model: nn.Module) -> None:
    train, valid = loaders(leak_transforms=True)  # planted: flips/crops on the validation set
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        evaluate_loader(model, valid)


def loader_nan_image(model: nn.Module) -> None:
    x, y = digits()
    x = x.clone()
    x[100, 0, 3, 3] = float("nan")  # planted: one corrupt pixel
    loader = DataLoader(Images(x[:512], y[:512]), batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()


class UnusedBranch(CNN):
    def __init__(self) -> None:
        super().__init__()
        self.aux = nn.Linear(128, 10)  # planted: defined, never used in forward


# -- healthy loops -------------------------------------------------------------------------------
def accumulation(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    accum = 4
    for _ in range(2):
        opt.zero_grad()
        for i, (xb, yb) in enumerate(batches(x, y, 16)):
            (F.cross_entropy(model(xb), yb) / accum).backward()
            if (i + 1) % accum == 0:
                opt.step()
                opt.zero_grad()
        evaluate(model, xv, yv)


def frozen_backbone(model: nn.Module) -> None:
    train, valid = loaders()
    for p in model.features.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(2):
        model.train()
        model.features.eval()  # frozen BatchNorm: running statistics kept
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        evaluate_loader(model, valid)


def eval_mode_shuffled_valid(model: nn.Module) -> None:
    train, valid = loaders(shuffle_valid=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        evaluate_loader(model, valid)


def eval_mode_with_grad(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        model.train()
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        model.eval()
        for i in range(0, len(xv), 64):
            F.cross_entropy(model(xv[i : i + 64]), yv[i : i + 64]).item()  # eval mode, with grad


def one_cycle_per_batch(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    epochs, per_epoch = 3, 16
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * per_epoch)
    for _ in range(epochs):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            sched.step()
        evaluate(model, xv, yv)


def warmup_cosine_per_batch(model: nn.Module) -> None:
    import math

    x, y, xv, yv = blobs()
    total, warm = 2 * 16, 4
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def factor(s: int) -> float:
        return (
            (s + 1) / warm
            if s < warm
            else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
        )

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    for _ in range(2):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            sched.step()
        evaluate(model, xv, yv)


def step_lr_per_epoch(model: nn.Module) -> None:
    train, valid = loaders()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    for _ in range(3):
        for xb, yb in train:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        sched.step()
        evaluate_loader(model, valid)


def train_mode_no_dropout(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        with torch.no_grad():  # no eval(): nothing in this model behaves differently
            model(xv)


class GAN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 16))
        self.d = nn.Sequential(nn.Linear(16, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.g(z)


def gan(model: nn.Module) -> None:
    x, _, _, _ = blobs()
    opt_g = torch.optim.Adam(model.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(2):
        for i in range(0, len(x), 32):
            real = x[i : i + 32]
            z = torch.randn(len(real), 8)
            with torch.no_grad():
                fake = model(z)  # the generator under no_grad for the discriminator's step
            opt_d.zero_grad()
            d_loss = F.softplus(-model.d(real)).mean() + F.softplus(model.d(fake)).mean()
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = F.softplus(-model.d(model(torch.randn(len(real), 8)))).mean()
            g_loss.backward()  # also reaches D's gradients: cleared by opt_d.zero_grad() above
            opt_g.step()


def mixed_precision(model: nn.Module) -> None:
    x, y, xv, yv = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2 * 16)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(2):
        for xb, yb in batches(x, y):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
        evaluate(model, xv, yv)


# -- the zoo ----------------------------------------------------------------------------------------
def _dropout() -> nn.Module:
    return mlp(dropout=0.3)


def _bn() -> nn.Module:
    return mlp(bn=True)


BUGS: list[Loop] = [
    Loop("no-zero-grad", "plain", "missing-zero-grad", mlp, no_zero_grad),
    Loop("loader-no-zero-grad", "dataloader", "missing-zero-grad", CNN, loader_no_zero_grad),
    Loop(
        "zero-grad-inside-accumulation",
        "plain",
        "zero-grad-in-accumulation",
        mlp,
        zero_grad_inside_accumulation,
    ),
    Loop(
        "loader-model-zero-grad-accumulation",
        "dataloader",
        "zero-grad-in-accumulation",
        CNN,
        loader_model_zero_grad_in_accumulation,
    ),
    Loop("eval-no-grad-only", "plain", "eval-without-eval-mode", _dropout, eval_no_grad_only),
    Loop(
        "loader-eval-with-grad-train-mode",
        "dataloader",
        "eval-without-eval-mode",
        CNN,
        loader_eval_with_grad_in_train_mode,
    ),
    Loop("eval-never-undone", "plain", "train-in-eval-mode", _dropout, eval_never_undone),
    Loop("loader-train-once", "dataloader", "train-in-eval-mode", CNN, loader_train_once),
    Loop("scheduler-first", "plain", "scheduler-before-optimizer", mlp, scheduler_first),
    Loop(
        "loader-one-cycle-scheduler-first",
        "dataloader",
        "scheduler-before-optimizer",
        CNN,
        loader_one_cycle_scheduler_first,
    ),
    Loop("step-lr-per-batch", "plain", "lr-collapse", mlp, step_lr_per_batch),
    Loop(
        "loader-exponential-per-batch",
        "dataloader",
        "lr-collapse",
        CNN,
        loader_exponential_per_batch,
    ),
    Loop("noisy-validation", "plain", "augmented-validation", _bn, noisy_validation),
    Loop(
        "loader-transforms-before-split",
        "dataloader",
        "augmented-validation",
        CNN,
        loader_transforms_before_split,
    ),
    Loop("head-only-optimizer", "plain", "params-not-updated", mlp, head_only_optimizer),
    Loop("detached-body", "plain", "params-not-updated", Detached, plain_train),
    Loop(
        "loader-unused-branch",
        "dataloader",
        "params-not-updated",
        UnusedBranch,
        eval_mode_shuffled_valid,
    ),
    Loop("log-of-zero", "plain", "non-finite", mlp, log_of_zero),
    Loop("loader-nan-image", "dataloader", "non-finite", CNN, loader_nan_image),
    Loop("sgd-lr-too-high", "plain", "exploding-gradients", lambda: mlp(k=1), sgd_lr_too_high),
    Loop(
        "gd-above-stability-edge",
        "plain",
        "exploding-gradients",
        lambda: nn.Linear(16, 1),
        gd_above_stability_edge,
    ),
]

HEALTHY: list[Loop] = [
    Loop("accumulation", "plain", None, _dropout, accumulation),
    Loop("frozen-backbone", "dataloader", None, CNN, frozen_backbone),
    Loop(
        "eval-mode-shuffled-valid",
        "dataloader",
        None,
        lambda: CNN(dropout=0.2),
        eval_mode_shuffled_valid,
    ),
    Loop("eval-mode-with-grad", "plain", None, _bn, eval_mode_with_grad),
    Loop("one-cycle-per-batch", "plain", None, _bn, one_cycle_per_batch),
    Loop("warmup-cosine-per-batch", "plain", None, _dropout, warmup_cosine_per_batch),
    Loop("step-lr-per-epoch", "dataloader", None, CNN, step_lr_per_epoch),
    Loop("train-mode-no-dropout", "plain", None, mlp, train_mode_no_dropout),
    Loop("gan", "plain", None, GAN, gan),
    Loop("mixed-precision", "plain", None, _dropout, mixed_precision),
]
