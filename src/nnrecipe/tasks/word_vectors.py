"""Skip-gram word vectors with negative sampling (`--task word-vectors`).

A corpus in, word vectors out. The train split holds skip-gram examples (rows ``[center,
context, negative_1..k]`` with labels ``[1, 0..0]``, see `nnrecipe.data.text`) drawn anew
every epoch by `train_batches` (subsampling, dynamic window, unigram^0.75 negatives); the
loss is the logistic loss of each pair, ``log 2`` per pair at init. The valid split is the
vocabulary: the model's output there is every word's vector, which the metrics score against
human similarity judgements (Spearman with WordSim-353 and SimLex-999, with the share of
pairs the vocabulary covers) and the analogy questions (3CosAdd accuracy where covered).

Options (``--task-option``): ``min_count`` (5), ``window`` (5), ``negatives`` (5),
``sample`` (1e-3), ``dim`` (100), ``noise_power`` (0.75), ``corpus`` (a text file, for the
built-in ``text``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks.base import LossFn, Task

DEFAULTS: dict[str, Any] = {
    "min_count": 5,
    "window": 5,
    "negatives": 5,
    "sample": 1e-3,
    "dim": 100,
    "noise_power": 0.75,
}
BENCHMARKS = ("wordsim353", "simlex999")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def rank(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        _, inv = np.unique(v, return_inverse=True)
        sums = np.bincount(inv, weights=r)
        return (sums / np.bincount(inv))[inv]

    if len(a) < 3:
        return float("nan")
    ra, rb = rank(np.asarray(a, float)), rank(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _sgns_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean logistic loss over the positive and negative pairs of each row; NaN on the
    vocabulary split (its outputs are vectors, not pair scores)."""
    if target.ndim != 2 or output.shape != target.shape:
        return torch.tensor(float("nan"))
    return F.binary_cross_entropy_with_logits(output.float(), target.float())


class WordVectors(Task):
    """Skip-gram with negative sampling (see the module doc)."""

    name: ClassVar[str] = "word-vectors"
    primary_metric: ClassVar[str] = "wordsim353"
    higher_is_better: ClassVar[bool] = True
    prior_name: ClassVar[str] = "zero scores (log 2 per pair)"
    targets_doc: ClassVar[str] = "a text corpus (the built-in 'lee', or 'text' with corpus=FILE)"
    infer_order: ClassVar[int | None] = None

    def __init__(self, words: list[str], counts: list[int], **options: Any) -> None:
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.options = {**DEFAULTS, **options}
        self.corpus: Any = None  # the token ids (only while the data are in memory)
        self._bench: dict[str, Any] | None = None

    def __getattr__(self, key: str) -> Any:
        options = self.__dict__.get("options", {})
        if key in options:
            return options[key]
        raise AttributeError(key)

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        return "it learns from a text corpus, not from inputs and targets"

    @classmethod
    def build(cls, y_train: Tensor, **kwargs: Any) -> WordVectors:
        raise DataError(
            "The word-vectors task learns from a text corpus: use the built-in 'lee' corpus, "
            "or 'text' with --task-option corpus=FILE (one document per line)."
        )

    @property
    def noise(self) -> np.ndarray:
        from nnrecipe.data.text import noise_distribution

        return noise_distribution(self.counts, self.noise_power)

    def default_batch_size(self, n_train: int) -> int | None:
        # Hundreds of thousands of pairs per epoch, each step a few embedding rows: small
        # batches would spend the time in Python, not in arithmetic.
        return 1024

    def epoch_size(self, split: Any) -> int:
        return len(split)  # the fixed draw in the split is one epoch's worth

    def train_batches(
        self,
        split: Any,
        batch_size: int,
        *,
        generator: torch.Generator,
        drop_last: bool,
        pin_memory: bool = False,
    ) -> Iterator[tuple[Any, Tensor]]:
        """A new draw of skip-gram examples every epoch, shuffled, in batches."""
        if self.corpus is None:
            yield from split.batches(
                batch_size, shuffle=True, generator=generator, drop_last=drop_last
            )
            return
        from nnrecipe.data.text import skipgram_examples

        rows, labels = skipgram_examples(
            self.corpus,
            window=self.window,
            negatives=self.negatives,
            sample=self.sample,
            noise=self.noise,
            generator=generator,
        )
        order = torch.randperm(len(rows), generator=generator)
        n = len(split)  # as many examples as the schedule planned for
        order = order[:n] if len(order) >= n else order
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            yield rows[idx], labels[idx]

    # -- train --------------------------------------------------------------------------------
    def output_size(self) -> int:
        return int(self.dim)

    def default_model(self, modality: str) -> str | None:
        return "skipgram"

    def default_loss(self) -> LossFn:
        return _sgns_loss

    def target_dtype(self) -> torch.dtype:
        return torch.float32

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            output.float(), target.float(), reduction="none"
        ).mean(1)

    def predict(self, output: Tensor) -> Tensor:
        return output

    def benchmarks(self) -> dict[str, Any]:
        """The similarity pairs and analogies as word ids (cached)."""
        if self._bench is None:
            from nnrecipe.data.text import analogies, similarity_pairs

            index = {w: i for i, w in enumerate(self.words)}
            bench: dict[str, Any] = {}
            for name in BENCHMARKS:
                pairs = similarity_pairs(name)
                kept = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
                bench[name] = {"pairs": kept, "total": len(pairs)}
            questions = analogies()
            covered = [tuple(index[w] for w in q) for q in questions if all(w in index for w in q)]
            bench["analogy"] = {"questions": covered, "total": len(questions)}
            self._bench = bench
        return self._bench

    def score_vectors(self, vectors: Tensor) -> dict[str, float]:
        """Benchmark metrics of a (V, D) table of word vectors."""
        v = F.normalize(vectors.float(), dim=1)
        result: dict[str, float] = {}
        bench = self.benchmarks()
        for name in BENCHMARKS:
            pairs = bench[name]["pairs"]
            if pairs:
                a, b, human = (np.array(c) for c in zip(*pairs, strict=True))
                cos = (v[a] * v[b]).sum(1).numpy()
                result[name] = spearman(cos, human)
            else:
                result[name] = float("nan")
            result[f"{name}_coverage"] = len(pairs) / max(1, bench[name]["total"])
        qs = bench["analogy"]["questions"]
        if qs:
            q = torch.tensor(qs)
            target = v[q[:, 1]] - v[q[:, 0]] + v[q[:, 2]]
            sims = target @ v.T  # (Q, V)
            sims.scatter_(1, q[:, :3], -math.inf)  # the question's own words are not answers
            result["analogy"] = float((sims.argmax(1) == q[:, 3]).float().mean())
        else:
            result["analogy"] = float("nan")
        result["analogy_coverage"] = len(qs) / max(1, bench["analogy"]["total"])
        result["error"] = 1.0 - result[self.primary_metric]  # what Ng's table reads
        return result

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        if target.ndim == 2:  # skip-gram examples: how well pairs are told from noise
            pred = output.float() > 0
            return {"pair_accuracy": float((pred == (target > 0.5)).float().mean())}
        vectors = torch.zeros(len(self.words), output.shape[1])
        vectors[target.long()] = output.float()
        return self.score_vectors(vectors)

    def model_metrics(self, model: Any) -> dict[str, float]:
        vectors = getattr(model, "vectors", None)
        if vectors is None:
            return {}
        with torch.no_grad():
            return self.score_vectors(vectors().detach().cpu())

    # -- checks -------------------------------------------------------------------------------
    def expected_init_loss(self, y_train: Tensor) -> float:
        return math.log(2)  # every pair scored 0: probability 1/2

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        return torch.zeros_like(out)

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        return [(y.float() * 2 - 1).to(out.device) * 30.0]

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        y2 = y.clone()
        y2[start:] = 1 - y[start:]
        return y2

    def applies(self, code: str) -> bool:
        from nnrecipe.tasks.word_vectors_report import applies

        return applies(code)

    # -- baselines ----------------------------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        from nnrecipe.tasks.word_vectors_report import baselines

        return baselines(self)

    def baselines_to_beat(self) -> tuple[str, ...]:
        # PPMI + SVD is a competing method (as good as skip-gram on small corpora), not a floor.
        return ("random",)

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "vocabulary": len(self.words),
            "options": dict(self.options),
            "words": self.words[:200],  # the most frequent, for the report
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> WordVectors:
        words = desc.get("words") or []
        return cls(words, [1] * len(words), **(desc.get("options") or {}))

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        return {
            "vocabulary": len(self.words),
            "tokens": int(self.counts.sum()),
            "most_frequent": [
                [w, int(c)] for w, c in zip(self.words[:20], self.counts[:20], strict=False)
            ],
        }

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        from nnrecipe.tasks.word_vectors_report import collect

        return collect(self, out, y)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        from nnrecipe.tasks.word_vectors_report import plots

        return plots(self, out, y, folder)

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        from nnrecipe.tasks.word_vectors_report import report_results

        return report_results(run, results, plot_files)
