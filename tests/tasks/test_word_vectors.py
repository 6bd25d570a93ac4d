"""The word-vectors task: Spearman against scipy, analogies against a brute-force search, the
word2vec text format read by gensim, skip-gram windows and negatives, the checks on planted
bugs, and the bad inputs through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.data.text import (
    Corpus,
    build_corpus,
    keep_probability,
    save_word2vec,
    skipgram_examples,
)
from nnrecipe.tasks.word_vectors import WordVectors, spearman

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo import word_vectors as Z  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_matches_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 8, size=60).astype(float)  # many ties
    b = a + rng.normal(size=60) * 3
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_analogy_accuracy_matches_brute_force() -> None:
    data = Z.lee()
    task = data.task
    gen = torch.Generator().manual_seed(0)
    vectors = torch.randn(len(task.words), 8, generator=gen)
    qs = task.benchmarks()["analogy"]["questions"]
    assert qs, "lee covers some analogy questions"
    v = torch.nn.functional.normalize(vectors, dim=1).numpy()
    hits = 0
    for a, b, c, d in qs:
        best, best_sim = None, -np.inf
        for w in range(len(v)):
            if w in (a, b, c):
                continue
            sim = float(v[w] @ (v[b] - v[a] + v[c]))
            if sim > best_sim:
                best, best_sim = w, sim
        hits += int(best == d)
    assert task.score_vectors(vectors)["analogy"] == pytest.approx(hits / len(qs))


def test_vectors_are_readable_by_gensim(tmp_path) -> None:
    keyed = pytest.importorskip("gensim.models").KeyedVectors
    words = ["alpha", "beta", "gamma"]
    vectors = torch.tensor([[0.5, -1.0], [2.0, 0.25], [0.0, 3.0]])
    save_word2vec(tmp_path / "v.txt", words, vectors)
    kv = keyed.load_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    assert list(kv.index_to_key) == words
    assert np.allclose(kv["beta"], [2.0, 0.25])


def _toy() -> Corpus:
    lines = ["aa bb cc dd ee ff gg hh", "ii jj kk ll", "aa cc ee gg ii kk"]
    return build_corpus(lines, min_count=1, window=2, source="toy")


def test_windows_stay_inside_documents_and_within_reach() -> None:
    corpus = _toy()
    noise = np.full(len(corpus.words), 1 / len(corpus.words))
    rows, labels = skipgram_examples(
        corpus, window=2, negatives=3, sample=0, noise=noise, generator=torch.Generator()
    )
    doc_of = {w: set() for w in range(len(corpus.words))}
    pos_of = {}
    for t, (w, d) in enumerate(zip(corpus.ids, corpus.docs, strict=True)):
        doc_of[int(w)].add(int(d))
        pos_of.setdefault((int(d), int(w)), t)
    assert rows.shape[1] == 5 and bool((labels[:, 0] == 1).all()) and labels[:, 1:].sum() == 0
    for center, context in rows[:, :2].tolist():
        shared = doc_of[center] & doc_of[context]
        assert shared, "a window never crosses documents"
        assert any(abs(pos_of[(d, center)] - pos_of[(d, context)]) <= 2 for d in shared)


def test_subsampling_is_word2vecs_formula() -> None:
    counts = np.array([1000, 100, 10, 1])
    f = counts / counts.sum()
    t = 1e-2
    assert keep_probability(counts, t) == pytest.approx(np.minimum(1, (np.sqrt(f / t) + 1) * t / f))
    assert (keep_probability(counts, 0) == 1).all()


def test_negatives_follow_the_smoothed_unigram() -> None:
    data = Z.lee()
    neg = data.train.x[:, 2:].reshape(-1).numpy()
    drawn = np.bincount(neg, minlength=len(data.task.words)) / neg.size
    p = data.task.counts**0.75
    # Measured 0.014 on 1.06M negatives (seeded draw); plain unigram counts are 0.199 away.
    assert 0.5 * np.abs(drawn - p / p.sum()).sum() < 0.02


def test_loss_at_init_is_log_2_per_pair() -> None:
    case = Z.healthy()
    data, model = case["data"], case["model"]
    with torch.no_grad():
        out = model(data.train.x[:4096])
        loss = data.task.default_loss()(out, data.train.y[:4096])
    assert float(loss) == pytest.approx(np.log(2), abs=1e-6)


@pytest.mark.slow  # a full nr.check each: 15-30 s on a loaded 2-core machine
@pytest.mark.parametrize("name", sorted(Z.CASES))
def test_planted_bug_is_found_with_its_code(name: str) -> None:
    code, build = Z.CASES[name]
    result = nr.check(**build(), seed=0)
    assert code in {f.code for f in result.at_least("warning")}, result.codes


@pytest.mark.slow
def test_builtin_skipgram_raises_no_finding() -> None:
    result = nr.check(**Z.healthy(), seed=0)
    assert not result.at_least("warning"), [f.message for f in result.at_least("warning")]


runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        ("", [], "holds no words"),
        ("only three words", [], "not more than the window"),
        ("the cat sat on the mat", ["min_count=50"], "lower min_count"),
    ],
)
def test_bad_corpora_exit_2_with_one_sentence(tmp_path, text, options, words) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    args = ["run", "text", "--task-option", f"corpus={corpus}"]
    for o in options:
        args += ["--task-option", o]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error:") and words in line and "\n" not in line
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r*"))


def test_word_vectors_on_a_table_exit_2() -> None:
    result = runner.invoke(app, ["run", "digits", "--task", "word-vectors", "--quiet"])
    assert result.exit_code == 2 and "text corpus" in result.output


def test_task_round_trips_through_its_description() -> None:
    task = Z.lee().task
    again = WordVectors.from_description(task.describe())
    assert again.words == task.words[:200] and again.options == task.options
