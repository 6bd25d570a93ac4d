"""The few-shot task: the class split, episodes against a brute-force nearest prototype,
the 95% interval, its checks on planted bugs, and its bad inputs through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.data.fewshot import episode_accuracy, episodes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo import fewshot as Z  # noqa: E402


def test_split_holds_out_whole_classes() -> None:
    data = Z.digits()
    train = set(data.train.y.tolist())
    assert train == {0, 1, 2, 3, 4}
    assert set(data.valid.y.tolist()) == set(data.test.y.tolist()) == {5, 6, 7, 8, 9}
    total = len(data.train) + len(data.valid) + len(data.test)
    assert total == 1797  # every digit once
    assert not set(data.valid.index.tolist()) & set(data.test.index.tolist())


def test_fewshot_classes_option_picks_the_held_out_classes() -> None:
    data = Z.digits(fewshot_classes=(0, 2, 4, 6, 8))
    assert set(data.train.y.tolist()) == {1, 3, 5, 7, 9}


def test_episode_accuracy_matches_brute_force_nearest_prototype() -> None:
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(120, 6, generator=gen)
    y = torch.arange(120) % 6
    support, query = episodes(y, ways=4, shots=3, queries=5, count=50, seed=1)
    got = episode_accuracy(emb, support, query)
    for e in range(50):
        protos = [emb[support[e, j]].mean(0).numpy() for j in range(4)]
        hits = 0
        for j in range(4):
            assert len(set(y[support[e, j]].tolist()) | set(y[query[e, j]].tolist())) == 1
            for q in query[e, j].tolist():
                dists = [np.linalg.norm(emb[q].numpy() - p) for p in protos]
                hits += int(np.argmin(dists) == j)
        assert float(got[e]) == pytest.approx(hits / 20)


def test_metrics_report_mean_and_95_interval_over_episodes() -> None:
    data = Z.digits()
    task = data.task
    out = data.valid.x.flatten(1)
    acc = task.episode_accuracies(out, data.valid.y, shots=1)
    m = task.metrics(out, data.valid.y)
    assert len(acc) == task.episodes >= 1000
    assert m["accuracy"] == pytest.approx(float(acc.mean()))
    assert m["accuracy_ci95"] == pytest.approx(1.96 * float(acc.std()) / np.sqrt(len(acc)))
    assert 0.2 < m["accuracy"] < 1  # chance is 1/5


def _brute_force_supcon(emb: torch.Tensor, y: torch.Tensor, group: torch.Tensor, t: float):
    """-log P(same class) - log P(same sample), a softmax over the other samples' cosines."""
    e = torch.nn.functional.normalize(emb, dim=1).double()
    losses = []
    for i in range(len(y)):
        others = [j for j in range(len(y)) if j != i]
        z = sum(np.exp(float(e[i] @ e[j]) / t) for j in others)
        total = 0.0
        for g in (y, group):
            p = sum(np.exp(float(e[i] @ e[j]) / t) for j in others if g[j] == g[i])
            total += -np.log(p / z) if p > 0 else 0.0
        losses.append(total)
    return np.array(losses)


def test_supcon_loss_matches_a_brute_force_softmax() -> None:
    task = Z.digits().task
    assert task.loss == "supcon"  # the default objective for images
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(12, 5, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 3, 4] * 2)
    group = torch.arange(6).repeat(2)
    got = task.per_sample_loss(emb, torch.stack([y, group], 1))
    want = _brute_force_supcon(emb, y, group, task.temperature)
    assert np.allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    # Class labels alone (the checks' batches): the class term only.
    got = task.per_sample_loss(emb, y)
    want = _brute_force_supcon(emb, y, torch.arange(12), task.temperature)
    assert np.allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_supcon_batches_hold_each_sample_twice_under_seeded_views() -> None:
    data = Z.digits()
    task = data.task

    def first_batch(seed: int):
        gen = torch.Generator().manual_seed(seed)
        return next(iter(task.train_batches(data.train, 16, generator=gen, drop_last=True)))

    x, y = first_batch(0)
    assert x.shape == (32, 1, 8, 8) and y.shape == (32, 2)
    assert torch.equal(y[:16], y[16:]) and torch.equal(y[:16, 1], torch.arange(16))
    assert not torch.equal(x[:16], x[16:])  # two different views of the same samples
    x2, y2 = first_batch(0)
    assert torch.equal(x, x2) and torch.equal(y, y2)  # every draw from the generator


@pytest.mark.slow  # a full nr.check each: 10-30 s on a loaded 2-core machine
@pytest.mark.parametrize("name", sorted(Z.CASES))
def test_planted_bug_is_found_with_its_code(name: str) -> None:
    code, build = Z.CASES[name]
    result = nr.check(**build(), seed=0)
    assert code in {f.code for f in result.at_least("warning")}, result.codes


@pytest.mark.slow
def test_builtin_embedding_raises_no_fewshot_finding() -> None:
    result = nr.check(**Z.healthy(), seed=0)
    assert not {f.code for f in result.at_least("warning")} & {code for code, _ in Z.CASES.values()}


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["diabetes", "--task", "few-shot"], "class labels"),
        (["digits", "--task", "few-shot", "--task-option", "shots=100"], "sample(s)"),
        (["digits", "--task", "few-shot", "--task-option", "fewshot_classes=[12]"], "[12]"),
        (["digits", "--task", "few-shot", "--task-option", "ways=7"], "7-way"),
    ],
)
def test_bad_inputs_exit_2_with_one_sentence(tmp_path, args, words) -> None:
    result = runner.invoke(app, ["run", *args, "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error:") and words in line and "\n" not in line
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r*"))
