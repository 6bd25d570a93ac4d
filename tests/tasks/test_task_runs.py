"""Each new task runs through every stage of `nr.run` into a run folder with its report parts."""

from __future__ import annotations

import json

import pytest

import nnrecipe as nr


@pytest.mark.slow  # a whole run each: 1-3 minutes on a loaded 2-core machine
@pytest.mark.parametrize(
    ("data", "task", "files"),
    [
        ("diabetes", "distribution", ["plots/cdfs_valid.png", "plots/pit_valid.png"]),
        ("digits", "few-shot", ["plots/embeddings_pca_valid.png"]),
        ("lee", "word-vectors", ["vectors.txt", "plots/similarity_scatter_valid.png"]),
    ],
)
def test_run_goes_through_every_stage(tmp_path, data, task, files) -> None:
    result = nr.run(data, task=task, epochs=2, out=str(tmp_path / "run"), quiet=True, threads=1)
    stages = {p.stem for p in (result.path / "stages").glob("*.json")}
    assert {"audit", "baselines", "checks", "evaluate", "diagnose", "report"} <= stages
    for f in files:
        assert (result.path / f).is_file(), f
    summary = json.loads((result.path / "summary.json").read_text())
    primary = nr.tasks.TASKS[task].primary_metric
    assert primary in summary["valid"]
    assert (result.path / "report.html").stat().st_size > 10_000
