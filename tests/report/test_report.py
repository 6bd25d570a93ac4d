"""The report page: every section, self-contained, escaped, rebuilt from the run folder alone."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

import nnrecipe as nr
from nnrecipe.cli import app
from nnrecipe.report.build import SECTIONS
from nnrecipe.report.verdict import VERDICT_STAGES

MAX_BYTES = 5_000_000


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(page)
    return p.tags


def test_digits_report_has_the_verdict_and_every_section(digits_run: Path) -> None:
    page = (digits_run / "report.html").read_text()
    tags = _tags(page)
    ids = [a.get("id") for t, a in tags if t == "section"]
    assert ids == ["summary", *(a for a, _ in SECTIONS)]
    stages = [a.get("data-stage") for t, a in tags if a.get("data-stage")]
    assert stages == list(VERDICT_STAGES)
    assert (digits_run / "report.html").stat().st_size < MAX_BYTES
    for needle in (
        "Class histogram",
        "Samples per class",
        "Loss at init",
        "Prediction dynamics",
        "First-layer filters",
        "Activation statistics",
        "Gradient norms",
        "Confusion matrix",
        "Per-class metrics",
        "Top losses",
        "Resolved configuration",
    ):
        assert needle in page, needle


def test_report_is_self_contained(digits_run: Path) -> None:
    page = (digits_run / "report.html").read_text()
    tags = _tags(page)
    assert not [
        t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link") and t != "link"
    ]
    for tag, attrs in tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value[:80])
    style = "".join(re.findall(r"<style>(.*?)</style>", page, re.S))
    assert "url(" not in style and "@import" not in style and "@font-face" not in style


def test_class_file_and_stage_text_is_escaped(evil_run: Path, evil_names: dict[str, str]) -> None:
    EVIL_CLASS, AMP_CLASS, EVIL_FILE = evil_names["class"], evil_names["amp"], evil_names["file"]
    page = (evil_run / "report.html").read_text()
    assert EVIL_CLASS not in page and "<i>italic" not in page
    assert html.escape(EVIL_CLASS) in page  # shown, as text
    assert html.escape(AMP_CLASS) in page
    assert html.escape(EVIL_FILE) in page  # the top losses name their files
    imgs = [a for t, a in _tags(page) if t == "img"]
    assert imgs and all((a.get("src") or "").startswith("data:image/png;base64,") for a in imgs)


def test_report_is_rebuilt_from_the_run_folder_alone(
    digits_run: Path, tmp_path: Path, monkeypatch
) -> None:
    run = shutil.copytree(digits_run, tmp_path / "copy")
    (run / "report.html").unlink()

    def no_data(*args, **kwargs):
        raise AssertionError("the report must not load the data")

    monkeypatch.setattr("nnrecipe.data.resolve.resolve_data", no_data)
    monkeypatch.setattr("nnrecipe.data.builtin.load", no_data)
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert f"report: {run / 'report.html'}" in result.output
    page = (run / "report.html").read_text()
    assert "Top losses" in page and "data-stage='training'" in page


def test_report_command_user_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    not_a_run = runner.invoke(app, ["report", str(tmp_path)])
    assert not_a_run.exit_code == 2 and "not a run folder" in not_a_run.output


def _verdict(page: str) -> dict[str, str]:
    return {a["data-stage"]: a["class"].split()[1] for t, a in _tags(page) if a.get("data-stage")}


def test_stages_that_did_not_run_say_so(digits_run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(digits_run, tmp_path / "copy")
    for name in ("audit", "checks", "diagnose", "tune"):
        (run / "stages" / f"{name}.json").unlink(missing_ok=True)
    page = nr.report(run).read_text()
    verdict = _verdict(page)
    assert {k: verdict[k] for k in ("audit", "checks", "diagnosis", "tuning")} == dict.fromkeys(
        ("audit", "checks", "diagnosis", "tuning"), "absent"
    )
    assert verdict["training"] in ("pass", "warning") and verdict["test"] in ("pass", "warning")
    assert "The audit stage did not run" in page and "Tuning did not run" in page


def test_odd_stage_files_render_escaped_and_never_read_outside_the_folder(
    digits_run: Path, tmp_path: Path
) -> None:
    run = shutil.copytree(digits_run, tmp_path / "copy")
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "outside.png")
    secret = (tmp_path / "outside.png").read_bytes()
    stages = run / "stages"
    (stages / "tune.json").write_text(
        json.dumps(
            {
                "best_value": 0.091,
                "trials": 2,
                "importance": {"<lr>": 0.7, "width": 0.3},
                "folder": "../outside.png",
            }
        )
    )
    (stages / "diagnose.json").write_text(
        json.dumps(
            {
                "stats": {
                    "next_step": "<script>alert(1)</script>",
                    "errors": {"train": 0.01, "valid": 0.05},
                },
                "findings": [
                    {
                        "code": "not-a-known-code",
                        "severity": "warning",
                        "message": "<u>m</u>",
                        "fix": "f",
                    }
                ],
            }
        )
    )
    # A stage file that is not of its type is named as damaged, never guessed at.
    (stages / "checks.json").write_text(
        json.dumps({"findings": "oops", "stats": [1, 2], "artifacts": {"x": "/etc/passwd"}})
    )
    page = nr.report(run).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;lr&gt;" in page and "&lt;u&gt;m&lt;/u&gt;" in page
    assert base64.b64encode(secret).decode() not in page
    assert _verdict(page)["tuning"] == "pass" and _verdict(page)["diagnosis"] == "warning"
    assert "checks.json" in page and "does not hold a valid FindingsResult" in page
    assert "could not be drawn" not in page


def test_regression_table_report_shows_predicted_vs_true_and_features(tmp_path: Path) -> None:
    run = nr.run(
        "diabetes", out=str(tmp_path / "diabetes"), epochs=2, threads=1, force=True, quiet=True
    ).path
    page = (run / "report.html").read_text()
    assert "Predicted vs true" in page and "Per-feature summary" in page and ">bmi<" in page
    assert "Target distribution" in page and "Top losses" in page


def test_notebook_displays(digits_run: Path) -> None:
    finding = nr.Finding("below-baseline", "warning", "m <x>", {"a": 1}, "f")
    shown = nr.Result([finding], stage="checks")._repr_html_()
    assert "below-baseline" in shown and "Why it matters" in shown and "m &lt;x&gt;" in shown
    css = re.search(r"<style>(.*?)</style>", shown, re.S).group(1)
    selectors = [rule.split("{")[0].strip() for rule in css.split("}") if "{" in rule]
    # Scoped: the notebook's own page is not restyled.
    assert selectors and all(sel.startswith(".nnrecipe") for s in selectors for sel in s.split(","))
    data = nr.datasets.load("iris")
    torch.manual_seed(0)
    learner = nr.Learner(torch.nn.Linear(4, 3), data, quiet=True, threads=1)
    assert "Not trained yet" in learner._repr_html_()
    learner.fit(epochs=3)
    assert "<svg" in learner._repr_html_() and "valid_accuracy" in learner._repr_html_()
    from nnrecipe.pipeline import RunResult

    frame = RunResult(digits_run, {}, [])._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "sandbox" in frame and "&lt;section id=" in frame


def test_open_opens_the_page_in_a_browser(digits_run: Path, tmp_path: Path, monkeypatch) -> None:
    run = shutil.copytree(digits_run, tmp_path / "copy")
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    result = CliRunner().invoke(app, ["report", str(run), "--open"])
    assert result.exit_code == 0, result.output
    assert opened == [(run / "report.html").resolve().as_uri()]


class _Counting(torch.utils.data.Dataset):
    """8x8 images whose class is the sign of the mean; counts the samples read."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 1, 8, 8, generator=g)
        self.y = (self.x.mean(dim=(1, 2, 3)) > 0).long()
        self.reads = 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        return self.x[i], self.y[i]


def test_collect_reads_only_the_shown_samples_of_a_streamed_split() -> None:
    from nnrecipe.report.collect import collect
    from nnrecipe.tasks.classification import SAMPLES_PER_CLASS

    train, valid = _Counting(400, 0), _Counting(100, 1)
    data = nr.Data.from_datasets(train, valid, in_memory=False)
    train.reads = valid.reads = 0
    extras = collect(data)
    assert [len(r["items"]) for r in extras["samples"]] == [SAMPLES_PER_CLASS] * 2
    assert all(it["png"] for r in extras["samples"] for it in r["items"])
    assert extras["class_counts"]["train"] == torch.bincount(train.y, minlength=2).tolist()
    assert train.reads == 2 * SAMPLES_PER_CLASS and valid.reads == 0
