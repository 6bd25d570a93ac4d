"""The distribution task: CRPS against properscoring (the oracle), coverage and the point
estimate's CRPS = MAE, its checks on planted bugs, and its bad inputs through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import properscoring as ps
import pytest
import torch
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.tasks import Distribution
from nnrecipe.tasks import crps as S

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo import distribution as Z  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_crps_matches_properscoring(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu, sigma = rng.normal(size=50), rng.uniform(0.1, 3, size=50)
    y = rng.normal(size=50) * 2
    got = S.crps_gaussian(*(torch.from_numpy(a) for a in (mu, sigma, y))).numpy()
    assert got == pytest.approx(ps.crps_gaussian(y, mu, sigma), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_binned_crps_matches_properscoring_ensemble(seed: int) -> None:
    """The binned CDF is linear inside each bin; 1,000 stratified quantiles of it are an
    ensemble whose CRPS (properscoring) converges to the exact one (error ~ 1/M^2)."""
    gen = torch.Generator().manual_seed(seed)
    edges = torch.linspace(-2, 3, 9, dtype=torch.float64)
    probs = torch.softmax(torch.randn(6, 8, generator=gen, dtype=torch.float64) * 2, 1)
    cdf = probs.cumsum(1)
    y = torch.tensor([-3.0, -2.0, 0.1, 1.7, 3.0, 4.5], dtype=torch.float64)  # in and outside
    qs = (np.arange(1000) + 0.5) / 1000
    f = np.c_[np.zeros(len(cdf)), cdf.numpy()]
    samples = np.stack([np.interp(qs, f[i], edges.numpy()) for i in range(len(cdf))])
    want = ps.crps_ensemble(y.numpy(), samples)
    # Measured: largest relative difference 2.5e-4 (seed 1), 1e-6 typical.
    assert S.crps_bins(cdf, edges, y).numpy() == pytest.approx(want, rel=1e-3, abs=1e-6)


def test_quantiles_invert_the_cdf() -> None:
    gen = torch.Generator().manual_seed(0)
    edges = torch.linspace(0, 1, 11)
    cdf = torch.softmax(torch.randn(20, 10, generator=gen), 1).cumsum(1)
    for q in (0.05, 0.5, 0.95):
        x = S.quantile_bins(cdf, edges, q)
        assert S.cdf_bins_at(cdf, edges, x).numpy() == pytest.approx(np.full(20, q), abs=1e-5)


def test_calibrated_gaussian_covers_its_intervals_and_point_crps_is_mae() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    mu, sigma = rng.normal(size=n), rng.uniform(0.5, 2, size=n)
    y = torch.from_numpy(mu + sigma * rng.normal(size=n)).float()
    task = Distribution(head="gaussian", std=float(y.std()))
    out = torch.from_numpy(np.stack([mu, np.log(sigma)], 1)).float()
    m = task.metrics(out, y)
    # Binomial std of a coverage on 20,000 samples: 0.003 at 90%, 0.0035 at 50%.
    assert m["coverage90"] == pytest.approx(0.9, abs=0.012)
    assert m["coverage50"] == pytest.approx(0.5, abs=0.014)
    assert m["width90"] == pytest.approx(2 * 1.6449 * sigma.mean(), rel=1e-3)
    point = task.metrics(torch.from_numpy(mu).float()[:, None], y)
    assert point["crps"] == pytest.approx(float((torch.from_numpy(mu).float() - y).abs().mean()))


def test_climatology_is_the_loss_at_init_of_the_builtin_heads() -> None:
    for head in ("bins", "gaussian"):
        data = Z.hetero(head=head)
        model = nr.models.build_model(None, data).eval()
        with torch.no_grad():
            loss = data.task.default_loss()(model(data.train.x), data.train.y)
        assert float(loss) == pytest.approx(data.task.expected_init_loss(data.train.y), rel=0.02)


@pytest.mark.slow  # a full nr.check each: 8-14 s on a loaded 2-core machine
@pytest.mark.parametrize("name", sorted(Z.CASES))
def test_planted_bug_is_found_with_its_code(name: str) -> None:
    code, build = Z.CASES[name]
    result = nr.check(**build(), seed=0)
    assert code in {f.code for f in result.at_least("warning")}, result.codes


@pytest.mark.slow
@pytest.mark.parametrize("head", ["bins", "gaussian"])
def test_builtin_heads_raise_no_distribution_finding(head: str) -> None:
    result = nr.check(**Z.healthy(head), seed=0)
    found = {f.code for f in result.at_least("warning")}
    assert not found & {"cdf-not-monotone", "bins-miss-targets", "scale-collapse", "loss-at-init"}


def test_other_tasks_skip_the_distribution_codes() -> None:
    result = nr.check(torch.nn.Linear(10, 1), nr.datasets.load("diabetes"), seed=0)
    assert "scale-collapse" in result.stats["not_applicable"]


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["digits", "--task", "distribution"], "real values"),
        (["diabetes", "--task", "distribution", "--task-option", "bins=500"], "distinct values"),
        (["diabetes", "--task", "distribution", "--task-option", "head=quantile"], "head"),
    ],
)
def test_bad_inputs_exit_2_with_one_sentence(tmp_path, args, words) -> None:
    result = runner.invoke(app, ["run", *args, "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert line.startswith("error:") and words in line and "\n" not in line
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r*"))
