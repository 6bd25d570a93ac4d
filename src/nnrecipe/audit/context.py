"""What every audit check works on: each split as a flat float array, plus shared representations.

The checks never touch tensors or files directly; they read an `AuditContext`, which computes each
representation once (lazily) and maps positions inside a split back to the source (`Split.index`)
and to file names (``data.meta["files"]``) for the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from nnrecipe.data import Data
from nnrecipe.data.batch import tensors_of

# Splits are read whole up to this many samples; a streamed split beyond it is audited on its
# first MAX_SAMPLES samples (the stats say so).
MAX_SAMPLES = 200_000
# Evidence lists at most this many samples per split (the counts are always complete).
MAX_EVIDENCE = 2000
# Dimensions of the PCA projection used by the near-duplicate search, outliers and the cheap
# models; PCA is fitted on at most PCA_FIT_SAMPLES training rows, so its cost does not grow with N.
PCA_DIMS = 32
PCA_FIT_SAMPLES = 5000
# Rows per chunk when a representation is computed (bounds the temporaries' memory).
CHUNK = 8192


@dataclass
class SplitArrays:
    """One split as numpy arrays: ``x`` (N, D) float32 with non-finite values zeroed, ``y``."""

    name: str
    x: np.ndarray
    y: np.ndarray
    source_index: np.ndarray  # position of each sample in the source (Split.index)
    files: list[str] | None
    truncated: bool = False


@dataclass
class AuditContext:
    """The data under audit and the representations the checks share."""

    data: Data
    seed: int = 0
    splits: dict[str, SplitArrays] = field(default_factory=dict)
    nonfinite: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N,) bool mask
    cache: dict[str, Any] = field(default_factory=dict)  # results shared by several checks

    @classmethod
    def build(cls, data: Data, *, seed: int = 0) -> AuditContext:
        ctx = cls(data, seed)
        files = data.meta.get("files") or {}
        for name, split in data.splits.items():
            if split.in_memory:
                x, y = split.tensors()
                truncated = False
            else:
                x, y = split.tensors(max_samples=MAX_SAMPLES)
                truncated = len(split) > MAX_SAMPLES
            # (N, *shape) -> (N, D); several input tensors (cat + cont columns) side by side
            xa = np.concatenate(
                [t.detach().cpu().reshape(len(t), -1).float().numpy() for t in tensors_of(x)],
                axis=1,
            )
            bad = ~np.isfinite(xa).all(axis=1)
            if bad.any():
                xa = np.nan_to_num(xa, nan=0.0, posinf=0.0, neginf=0.0)
            ctx.nonfinite[name] = bad
            ya = y.detach().cpu().numpy()
            index = split.index
            src = np.arange(len(xa)) if index is None else index.detach().cpu().numpy()[: len(xa)]
            names = files.get(name)
            ctx.splits[name] = SplitArrays(
                name,
                np.ascontiguousarray(xa, dtype=np.float32),
                ya,
                src,
                list(names)[: len(xa)] if names else None,
                truncated,
            )
        return ctx

    # -- basic facts -----------------------------------------------------------------------------
    @property
    def has_labels(self) -> bool:
        """Whether the task gives one class label per sample (label noise, class imbalance)."""
        probe = self.data.train.targets()[:1]
        return self.data.task.labels_for_audit(probe) is not None

    @property
    def num_classes(self) -> int:
        return int(getattr(self.data.task, "num_classes", 0) or 0)

    @property
    def class_names(self) -> list[str]:
        names = self.data.classes
        return list(names) if names else [str(i) for i in range(self.num_classes)]

    def labels(self, split: str) -> np.ndarray:
        """Integer class labels (N,) of a split (first column for multi-output targets)."""
        y = self.splits[split].y.reshape(len(self.splits[split].y), -1)[:, 0]
        return np.rint(y).astype(np.int64)

    @property
    def heldout(self) -> list[str]:
        return [s for s in ("valid", "test", "train_dev") if s in self.splits]

    # -- evidence --------------------------------------------------------------------------------
    def ref(self, split: str, pos: int) -> dict[str, Any]:
        """One sample as JSON: split, position in the split, index in the source, file."""
        s = self.splits[split]
        out: dict[str, Any] = {
            "split": split,
            "position": int(pos),
            "index": int(s.source_index[pos]),
        }
        if s.files is not None and pos < len(s.files):
            out["file"] = s.files[pos]
        return out

    def samples(self, positions: dict[str, np.ndarray]) -> dict[str, Any]:
        """Evidence naming samples per split: source indices (and files), capped, with counts."""
        out: dict[str, Any] = {"count": {}, "indices": {}}
        for split, pos in positions.items():
            pos = np.asarray(pos, dtype=np.int64)
            if len(pos) == 0:
                continue
            s = self.splits[split]
            out["count"][split] = int(len(pos))
            out["indices"][split] = s.source_index[pos[:MAX_EVIDENCE]].astype(int).tolist()
            if s.files is not None:
                out.setdefault("files", {})[split] = [s.files[p] for p in pos[:MAX_EVIDENCE]]
        return out

    # -- shared representations ------------------------------------------------------------------
    @cached_property
    def scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and std of the training inputs (std 1 where a feature is constant)."""
        x = self.splits["train"].x
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = x.std(axis=0, dtype=np.float64).astype(np.float32)
        return mean, np.where(std > 0, std, 1.0).astype(np.float32)

    def signature(self, split: str) -> np.ndarray:
        """Rows compared for near-duplicates, with distances on a common scale.

        Images and signals: each sample centred and scaled to unit norm, so the distance between
        two samples is sqrt(2 * (1 - correlation)) whatever their brightness or contrast. Tables:
        features standardised with training statistics, divided by sqrt(D), so the distance is
        the root-mean-square difference in training standard deviations.
        """
        return self._signatures[split]

    @cached_property
    def _signatures(self) -> dict[str, np.ndarray]:
        out = {}
        if self.data.modality == "tabular":
            mean, std = self.scale
            d = max(1, self.splits["train"].x.shape[1])
            for k, s in self.splits.items():
                out[k] = ((s.x - mean) / std / np.sqrt(d)).astype(np.float32)
            return out
        for k, s in self.splits.items():
            sig = np.empty_like(s.x)
            for a in range(0, len(s.x), CHUNK):  # in chunks: no full-size temporaries
                z = s.x[a : a + CHUNK] - s.x[a : a + CHUNK].mean(axis=1, keepdims=True)
                norm = np.linalg.norm(z, axis=1, keepdims=True)
                np.divide(z, norm, out=sig[a : a + CHUNK], where=norm > 0)
                sig[a : a + CHUNK][norm[:, 0] == 0] = 0.0
            out[k] = sig
        return out

    @cached_property
    def pca(self) -> Any:
        """A PCA of the training signatures (at most PCA_DIMS components), or None if D is small."""
        from sklearn.decomposition import PCA

        x = self.signature("train")
        if x.shape[1] <= PCA_DIMS:
            return None
        rng = np.random.default_rng(self.seed)
        fit = (
            x
            if len(x) <= PCA_FIT_SAMPLES
            else x[rng.choice(len(x), PCA_FIT_SAMPLES, replace=False)]
        )
        k = min(PCA_DIMS, len(fit) - 1, x.shape[1])
        return PCA(n_components=k, svd_solver="randomized", random_state=self.seed).fit(fit)

    def projected(self, split: str) -> np.ndarray:
        """Signatures projected on the training PCA (an orthogonal projection: it never
        lengthens a distance, so a radius search here finds every pair within that radius)."""
        return self._projected[split]

    @cached_property
    def _projected(self) -> dict[str, np.ndarray]:
        if self.pca is None:
            return {k: self.signature(k) for k in self.splits}
        return {
            k: np.concatenate(
                [
                    self.pca.transform(sig[a : a + CHUNK]).astype(np.float32)
                    for a in range(0, len(sig), CHUNK)
                ]
            )
            for k, sig in ((k, self.signature(k)) for k in self.splits)
        }

    def features(self, split: str) -> np.ndarray:
        """Features for the cheap models and outlier scores: the raw inputs standardised with
        training statistics, reduced by PCA when wide, plus the PCA reconstruction error (so
        samples off the data's main directions stand out)."""
        return self._features[split]

    @cached_property
    def _features(self) -> dict[str, np.ndarray]:
        from sklearn.decomposition import PCA

        mean, std = self.scale
        if self.splits["train"].x.shape[1] <= PCA_DIMS:
            return {k: ((s.x - mean) / std).astype(np.float32) for k, s in self.splits.items()}
        # Fitted on rows of every split: a PCA fitted on train alone leaves train rows a smaller
        # residual than held-out rows (it overfits when D is close to N), which a shift test or
        # an outlier score would then pick up as a difference between the splits.
        pooled = np.concatenate([s.x for s in self.splits.values()])
        rng = np.random.default_rng(self.seed + 1)
        if len(pooled) > PCA_FIT_SAMPLES:
            pooled = pooled[rng.choice(len(pooled), PCA_FIT_SAMPLES, replace=False)]
        # Images are already on one scale per channel: standardising each pixel would blow up
        # near-constant border pixels, so wide inputs are only centred.
        pca = PCA(
            n_components=min(PCA_DIMS, len(pooled) - 1),
            svd_solver="randomized",
            random_state=self.seed,
        ).fit(pooled)
        out = {}
        for k, s in self.splits.items():
            parts = []
            for a in range(0, len(s.x), CHUNK):  # in chunks: no full-size temporaries
                z = pca.transform(s.x[a : a + CHUNK])
                # Components are orthonormal: |x - mean|^2 = |z|^2 + |residual|^2.
                centred = s.x[a : a + CHUNK] - pca.mean_.astype(np.float32)
                total = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
                resid = np.sqrt(np.maximum(total - (z.astype(np.float64) ** 2).sum(axis=1), 0.0))
                parts.append(np.hstack([z, resid[:, None]]).astype(np.float32))
            out[k] = np.concatenate(parts)
        return out


def intrinsic_dimension(dist: np.ndarray) -> float:
    """Levina-Bickel maximum-likelihood estimate of the data's intrinsic dimension from each
    sample's sorted distances to its k nearest neighbours (N, k), k >= 3 (inverse averaged over
    samples, as MacKay and Ghahramani suggest). Samples with a zero distance are skipped."""
    d = dist[(dist > 0).all(axis=1)].astype(np.float64)
    if len(d) < 10 or d.shape[1] < 3:
        return float("inf")
    inverse = np.log(d[:, -1:] / d[:, :-1]).mean(axis=1)  # (N,) = 1 / m_hat(x)
    mean = float(inverse.mean())
    return 1.0 / mean if mean > 0 else float("inf")
