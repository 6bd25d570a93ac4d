"""Text corpora for word vectors: tokens, a vocabulary with a minimum count, and skip-gram
training examples (subsampling of frequent words, a dynamic context window, negatives drawn
from the unigram distribution raised to 3/4), as in word2vec (Mikolov et al. 2013).

Offline corpora and benchmarks come from gensim's bundled test data (``lee_background.cor``,
WordSim-353, SimLex-999, the analogy questions), found with `importlib.util.find_spec` and
read as plain files: gensim is never imported.

A skip-gram example is one row of ``2 + negatives`` word ids: ``[center, context, negative_1,
..., negative_k]``, with labels ``[1, 0, ..., 0]`` (the context is a true neighbour, the
negatives are noise). The vocabulary split holds one row per word, ``[id, -1, ..., -1]``: the
model returns that word's vector.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nnrecipe.errors import DataError

TOKEN = re.compile(r"[a-z]+")
MIN_LEN, MAX_LEN = 2, 15  # gensim's simple_preprocess keeps tokens of 2..15 characters


def tokenize(line: str) -> list[str]:
    """Lower-cased alphabetic tokens of 2-15 characters (like gensim's simple_preprocess)."""
    return [t for t in TOKEN.findall(line.lower()) if MIN_LEN <= len(t) <= MAX_LEN]


def gensim_test_data() -> Path:
    """gensim's ``test/test_data`` folder, located without importing gensim."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The built-in text corpora and word benchmarks are gensim's bundled test files, and "
            "gensim is not installed: pip install --no-deps gensim (only its files are read)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"


@dataclass
class Corpus:
    """Token ids of a corpus, document by document, over a vocabulary sorted by frequency."""

    words: list[str]  # id -> word, most frequent first
    counts: np.ndarray  # (V,) occurrences in the corpus
    ids: np.ndarray  # (N,) token ids (words under the minimum count left out)
    docs: np.ndarray  # (N,) document index of each token

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def build_corpus(lines: list[str], *, min_count: int, window: int, source: str) -> Corpus:
    """Tokenise `lines` (one document per line) and keep the words seen `min_count` times.

    Raises:
        DataError: the corpus is empty, shorter than the window, or the minimum count leaves
            no word.
    """
    docs = [tokenize(line) for line in lines]
    n_tokens = sum(len(d) for d in docs)
    if n_tokens == 0:
        raise DataError(
            f"The corpus {source} holds no words: give a text file with one document per line."
        )
    if n_tokens <= window:
        raise DataError(
            f"The corpus {source} has {n_tokens} word(s), not more than the window of "
            f"{window}: give a longer text or a smaller window."
        )
    counts = Counter(t for d in docs for t in d)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if not kept:
        raise DataError(
            f"No word of the corpus {source} occurs {min_count} times (the most frequent, "
            f"{counts.most_common(1)[0][0]!r}, occurs {counts.most_common(1)[0][1]}): lower "
            "min_count or give a longer text."
        )
    index = {w: i for i, w in enumerate(kept)}
    ids, doc_of = [], []
    for j, d in enumerate(docs):
        for t in d:
            if t in index:
                ids.append(index[t])
                doc_of.append(j)
    return Corpus(
        kept,
        np.array([counts[w] for w in kept], dtype=np.int64),
        np.array(ids, dtype=np.int64),
        np.array(doc_of, dtype=np.int64),
    )


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: a word of frequency f is kept with probability
    (sqrt(f / t) + 1) * t / f (1 for rare words); ``sample=0`` keeps everything."""
    if sample <= 0:
        return np.ones(len(counts))
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution: unigram counts raised to `power`, normalised."""
    p = counts.astype(np.float64) ** power
    return p / p.sum()


def skipgram_examples(
    corpus: Corpus,
    *,
    window: int,
    negatives: int,
    sample: float,
    noise: np.ndarray,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """One epoch of skip-gram examples: (rows (P, 2 + negatives), labels (P, 1 + negatives)).

    Frequent words are subsampled and each center's window is shrunk to a random size in
    1..window (both drawn anew every epoch, from `generator`); windows stay inside a document.
    """
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    rng = np.random.default_rng(seed)
    keep = rng.random(len(corpus.ids)) < keep_probability(corpus.counts, sample)[corpus.ids]
    ids, docs = corpus.ids[keep], corpus.docs[keep]
    reach = rng.integers(1, window + 1, size=len(ids))  # dynamic window per center
    centers, contexts = [], []
    for off in range(1, window + 1):
        for sign in (-1, 1):
            shift = sign * off
            lo, hi = max(0, -shift), min(len(ids), len(ids) - shift)
            c = np.arange(lo, hi)
            ok = (reach[c] >= off) & (docs[c] == docs[c + shift])
            centers.append(ids[c[ok]])
            contexts.append(ids[c[ok] + shift])
    center = np.concatenate(centers)
    context = np.concatenate(contexts)
    neg = rng.choice(len(noise), size=(len(center), negatives), p=noise)
    rows = np.concatenate([center[:, None], context[:, None], neg], 1)
    labels = np.zeros((len(center), 1 + negatives), dtype=np.float32)
    labels[:, 0] = 1.0
    return torch.from_numpy(rows), torch.from_numpy(labels)


def vocabulary_rows(n_words: int, negatives: int) -> Tensor:
    """(V, 2 + negatives) rows ``[id, -1, ...]``: ask the model for every word's vector."""
    rows = torch.full((n_words, 2 + negatives), -1, dtype=torch.long)
    rows[:, 0] = torch.arange(n_words)
    return rows


# -- benchmarks ---------------------------------------------------------------------------------
def similarity_pairs(name: str) -> list[tuple[str, str, float]]:
    """Human similarity judgements: ``wordsim353`` or ``simlex999`` (word, word, score)."""
    file = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}[name]
    pairs = []
    for line in (gensim_test_data() / file).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.split("\t")[:3]
        pairs.append((a.lower(), b.lower(), float(score)))
    return pairs


def analogies() -> list[tuple[str, str, str, str]]:
    """The word2vec analogy questions (a : b :: c : d), lower-cased, section headers dropped."""
    out = []
    for line in (gensim_test_data() / "questions-words.txt").read_text().splitlines():
        if line.startswith(":") or not line.strip():
            continue
        a, b, c, d = line.lower().split()
        out.append((a, b, c, d))
    return out


def read_lines(path: Any) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"The corpus file {str(p)!r} does not exist: check the path.")
    return p.read_text(encoding="utf-8", errors="replace").splitlines()


# -- built-in corpora ---------------------------------------------------------------------------
def from_text(
    lines: list[str],
    *,
    name: str = "text",
    source: str = "given",
    seed: int = 0,
    task_options: dict[str, Any] | None = None,
) -> Any:
    """An `nr.Data` for the word-vectors task from documents (one per line): the train split is
    one epoch's skip-gram examples (seeded; training draws new ones every epoch), the valid
    split the vocabulary.

    Raises:
        DataError: an unknown or invalid option, an empty corpus, a corpus shorter than the
            window, or a vocabulary emptied by the minimum count.
    """
    from nnrecipe.data.core import Data
    from nnrecipe.data.split import Split
    from nnrecipe.tasks.word_vectors import DEFAULTS, WordVectors

    options = {k: v for k, v in (task_options or {}).items() if k != "corpus"}
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise DataError(
            f"Unknown option(s) {', '.join(sorted(unknown))} for task 'word-vectors': it takes "
            f"{', '.join(DEFAULTS)} and corpus."
        )
    opts = {**DEFAULTS, **options}
    for key in ("min_count", "window", "negatives", "dim"):
        if not isinstance(opts[key], int) or opts[key] < 1:
            raise DataError(
                f"The word-vectors option {key} must be a whole number >= 1, got {opts[key]!r}."
            )
    corpus = build_corpus(lines, min_count=opts["min_count"], window=opts["window"], source=source)
    task = WordVectors(corpus.words, corpus.counts.tolist(), **opts)
    task.corpus = corpus
    rows, labels = skipgram_examples(
        corpus,
        window=opts["window"],
        negatives=opts["negatives"],
        sample=float(opts["sample"]),
        noise=task.noise,
        generator=torch.Generator().manual_seed(seed),
    )
    if len(rows) == 0:
        raise DataError(
            f"The corpus {source} gives no (word, context) pair with window {opts['window']}: "
            "its documents are single words; give longer documents."
        )
    vocab = vocabulary_rows(len(corpus.words), opts["negatives"])
    splits = {
        "train": Split(rows, labels, index=torch.arange(len(rows))),
        "valid": Split(vocab, torch.arange(len(corpus.words)), index=torch.arange(len(vocab))),
    }
    meta = {
        "source": source,
        "seed": seed,
        "tokens": int(len(corpus.ids)),
        "documents": len(lines),
        "vocabulary": len(corpus.words),
    }
    return Data(splits, task=task, modality="tabular", name=name, meta=meta)


def _register() -> None:
    from nnrecipe.data.builtin import register_loader

    @register_loader("lee", takes_test=False, takes_options=True)
    def lee(*, seed: int = 0, task_options: dict[str, Any] | None = None, **_: Any) -> Any:
        """gensim's Lee background corpus (300 news articles, about 60,000 words)."""
        path = gensim_test_data() / "lee_background.cor"
        return from_text(
            read_lines(path),
            name="lee",
            source=repr(path.name),
            seed=seed,
            task_options=task_options,
        )

    @register_loader("text", takes_test=False, takes_options=True)
    def text(*, seed: int = 0, task_options: dict[str, Any] | None = None, **_: Any) -> Any:
        """A corpus file of your own: --task-option corpus=FILE (one document per line)."""
        path = (task_options or {}).get("corpus")
        if not path:
            raise DataError(
                "The 'text' data set reads your corpus: pass --task-option corpus=FILE (one "
                "document per line), or use the built-in 'lee'."
            )
        return from_text(
            read_lines(path),
            name=Path(str(path)).stem,
            source=repr(str(path)),
            seed=seed,
            task_options=task_options,
        )


_register()


def save_word2vec(path: Any, words: list[str], vectors: Tensor) -> None:
    """Write vectors in the word2vec text format (gensim's KeyedVectors.load_word2vec_format):
    a ``V D`` header, then one ``word v1 ... vD`` line per word."""
    from pathlib import Path

    v = vectors.detach().cpu().float().numpy()
    lines = [f"{len(words)} {v.shape[1]}"]
    lines += [w + " " + " ".join(f"{x:.6g}" for x in row) for w, row in zip(words, v, strict=True)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
