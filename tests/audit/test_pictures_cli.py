"""The pictures are written and readable; `nnrecipe audit` prints, draws, and exits by severity;
a run stops at the audit on unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import nnrecipe as nr
from audit.audit_synth import make_data
from nnrecipe.cli import app
from nnrecipe.findings import catalog


def _problems(modality: str) -> nr.Data:
    """Copies, a leak, wrong labels and an outlier: something for every picture."""
    data = make_data(modality, 600)
    rng = np.random.default_rng(0)
    tr = data.train
    tr.x[1] = tr.x[0]
    tr.x[3] = tr.x[2]
    data.valid.x[0] = tr.x[5]
    idx = torch.from_numpy(rng.choice(len(tr.y), 60, replace=False))
    tr.y[idx] = (tr.y[idx] + 1) % 4
    tr.x[7] = tr.x[7] * 10
    return data


@pytest.mark.parametrize("modality", ["image", "sequence", "tabular"])
def test_pictures_are_written_and_readable(modality, tmp_path):
    result = nr.audit(_problems(modality), out=tmp_path / "audit")
    first = "histograms" if modality == "tabular" else "samples"
    # A table's label-noise suspects are rows (line, values) in the evidence, not a picture.
    assert {first, "duplicates", "leakage", "outliers"} <= set(result.artifacts)
    assert ("label_issues" in result.artifacts) == (modality != "tabular")
    if modality == "tabular":
        noise = next(f for f in result.findings if f.code == "label-noise")
        assert len(noise.evidence["columns"]) == len(noise.evidence["suspects"][0]["values"])
    for rel in result.artifacts.values():
        path = tmp_path / "audit" / rel
        with Image.open(path) as im:
            im.load()
            assert im.format == "PNG" and min(im.size) > 100


def test_no_pictures_without_a_folder():
    assert nr.audit(make_data("image")).artifacts == {}


def test_every_audit_code_is_explained_and_has_its_own_function():
    from nnrecipe.audit import api
    from nnrecipe.audit.codes import CODES

    names = {fn.__name__.replace("_", "-") for fn in api._checks()}
    assert names == set(CODES)
    for code in CODES:
        assert code in catalog()
        assert "Why it matters" in nr.explain(code)


def test_evidence_names_files_of_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(25):
            img = (rng.random((10, 10)) * 120 + (100 if c == "b" else 0)).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / c / f"{i}.png")
    (tmp_path / "a" / "copy.png").write_bytes((tmp_path / "a" / "3.png").read_bytes())
    data = nr.Data.from_folder(tmp_path, valid=0.2, test=0.0, seed=0)
    f = next(f for f in nr.audit(data).findings if f.code in ("duplicates", "split-leakage"))
    files = {p for v in f.evidence["samples"]["files"].values() for p in v}
    members = {
        m["file"] for g in f.evidence.get("group_members", f.evidence.get("groups")) for m in g
    }
    assert {str(tmp_path / "a" / "3.png"), str(tmp_path / "a" / "copy.png")} == members
    assert files <= members


runner = CliRunner()


def test_cli_audit_prints_findings_and_stats_and_writes_pictures(tmp_path):
    result = runner.invoke(app, ["audit", "digits", "--out", str(tmp_path / "pics")])
    assert result.exit_code == 0, result.output
    assert "samples" in result.output and "class 9" in result.output
    assert (tmp_path / "pics" / "samples.png").is_file()


def _corrupt_folder(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(15):
            img = (rng.random((8, 8)) * 120 + (100 if c == "b" else 0)).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    (root / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")


def test_cli_audit_exit_codes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corrupt_folder(tmp_path / "imgs")
    found = runner.invoke(app, ["audit", str(tmp_path / "imgs")])
    assert found.exit_code == 2 and "bad.png" in found.output  # the data cannot be read
    assert (tmp_path / "runs" / "audit-imgs" / "samples.png").is_file()  # default folder
    missing = runner.invoke(app, ["audit", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and missing.output.startswith("error: ")


def test_run_stops_at_the_audit_on_an_unreadable_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corrupt_folder(tmp_path / "imgs")
    stopped = runner.invoke(app, ["run", str(tmp_path / "imgs"), "--quiet", "--epochs", "1"])
    assert stopped.exit_code == 2  # unreadable input: the same as `nnrecipe audit` on it
    assert "corrupt-sample" in stopped.output and "bad.png" in stopped.output
    assert "--force" in stopped.output


@pytest.mark.slow
def test_a_forced_run_keeps_the_audit_result_and_pictures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corrupt_folder(tmp_path / "imgs")
    forced = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "imgs"),
            "--quiet",
            "--epochs",
            "1",
            "--force",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert forced.exit_code == 0, forced.output
    import json

    saved = json.loads((tmp_path / "r" / "stages" / "audit.json").read_text())
    assert saved["findings"][0]["code"] == "corrupt-sample"
    assert all((tmp_path / "r" / p).is_file() for p in saved["artifacts"].values())
