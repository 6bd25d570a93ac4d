"""Scores of predicted distributions: CRPS, NLL and quantiles of Gaussian and binned CDFs.

A binned prediction is a CDF given at the bin edges ``e_0 < ... < e_K`` (0 at ``e_0``) and
linear in between (a uniform density inside each bin). Its CRPS is computed exactly, bin by
bin, so it equals the CRPS of the same distribution by quadrature or by a large ensemble.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# The smallest scale a Gaussian head may predict, relative to the targets' scale: below it the
# NLL is dominated by rounding (and a collapsing scale is reported by `scale-collapse`).
MIN_SIGMA = 1e-6
_SQRT_PI = math.sqrt(math.pi)


def crps_gaussian(mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """(N,) CRPS of N(mu, sigma^2) at y, in closed form (Gneiting & Raftery 2007)."""
    z = (y - mu) / sigma
    normal = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z))
    pdf = normal.log_prob(z).exp()
    cdf = normal.cdf(z)
    return sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / _SQRT_PI)


def nll_gaussian(mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """(N,) negative log density of N(mu, sigma^2) at y."""
    z = (y - mu) / sigma
    return 0.5 * math.log(2 * math.pi) + torch.log(sigma) + 0.5 * z**2


def quantile_gaussian(mu: Tensor, sigma: Tensor, q: float) -> Tensor:
    return mu + sigma * math.sqrt(2) * torch.erfinv(torch.tensor(2 * q - 1, dtype=mu.dtype))


def cdf_gaussian(mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    return 0.5 * (1 + torch.erf((y - mu) / (sigma * math.sqrt(2))))


def _segment(width: Tensor, a: Tensor, b: Tensor, c: float) -> Tensor:
    """Integral over a segment of `width` of (F(x) - c)^2, F linear from a to b."""
    a, b = a - c, b - c
    return width * (a * a + a * b + b * b) / 3


def crps_bins(cdf: Tensor, edges: Tensor, y: Tensor) -> Tensor:
    """(N,) exact CRPS of a piecewise-linear CDF.

    Args:
        cdf: (N, K) CDF at the upper edges ``e_1..e_K`` (the CDF is 0 at ``e_0``); need not be
            monotone (the integral is still defined, and `cdf-not-monotone` reports it).
        edges: (K+1,) increasing bin edges.
        y: (N,) observed values; outside the edges the CDF is 0 below and `cdf[:, -1]` above.
    """
    lo, hi = edges[:-1], edges[1:]  # (K,)
    width = hi - lo
    a = torch.cat([torch.zeros_like(cdf[:, :1]), cdf[:, :-1]], 1)  # CDF at each lower edge
    b = cdf
    # Where y falls in each bin: t = 0 (bin above y), 1 (bin below y), in between (y's bin).
    t = ((y[:, None] - lo) / width).clamp(0, 1)
    fy = a + (b - a) * t
    below = _segment(width * t, a, fy, 0.0)  # x < y: the step function is 0
    above = _segment(width * (1 - t), fy, b, 1.0)  # x >= y: the step function is 1
    total = (below + above).sum(1)
    # Outside the edges: F = 0 below e_0 (step = 1 for x in [y, e_0]); F = F_K above e_K.
    total = total + (edges[0] - y).clamp_min(0)
    total = total + (y - edges[-1]).clamp_min(0) * cdf[:, -1] ** 2
    # Beyond e_K the CDF stays at F_K < 1 for ever: its (1 - F_K)^2 term has no finite
    # integral, so a CDF that does not reach 1 is scored as if it jumped to 1 at e_K.
    return total


def bin_index(edges: Tensor, y: Tensor) -> Tensor:
    """(N,) index of the bin holding each value (values outside go to the first / last bin)."""
    k = torch.searchsorted(edges[1:-1].contiguous(), y.contiguous(), right=True)
    return k.clamp(0, len(edges) - 2)


def nll_bins(probs: Tensor, edges: Tensor, y: Tensor) -> Tensor:
    """(N,) negative log density of the binned distribution (uniform inside a bin) at y."""
    k = bin_index(edges, y)
    width = (edges[1:] - edges[:-1])[k]
    p = probs.gather(1, k[:, None])[:, 0].clamp_min(1e-12)
    return -torch.log(p / width)


def quantile_bins(cdf: Tensor, edges: Tensor, q: float) -> Tensor:
    """(N,) the q-quantile of piecewise-linear CDFs (made monotone first with a running max)."""
    f = torch.cummax(cdf.clamp(0, 1), 1).values
    f = torch.cat([torch.zeros_like(f[:, :1]), f], 1)  # (N, K+1) at every edge
    target = torch.full((len(f), 1), q, dtype=f.dtype)
    k = torch.searchsorted(f.contiguous(), target, right=False)[:, 0].clamp(1, f.shape[1] - 1)
    f_lo = f.gather(1, (k - 1)[:, None])[:, 0]
    f_hi = f.gather(1, k[:, None])[:, 0]
    frac = ((q - f_lo) / (f_hi - f_lo).clamp_min(1e-12)).clamp(0, 1)
    return edges[k - 1] + frac * (edges[k] - edges[k - 1])


def cdf_bins_at(cdf: Tensor, edges: Tensor, y: Tensor) -> Tensor:
    """(N,) the piecewise-linear CDF evaluated at y (the PIT value)."""
    f = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], 1)
    k = bin_index(edges, y)
    t = ((y - edges[k]) / (edges[k + 1] - edges[k])).clamp(0, 1)
    f_lo = f.gather(1, k[:, None])[:, 0]
    f_hi = f.gather(1, (k + 1)[:, None])[:, 0]
    return f_lo + t * (f_hi - f_lo)
