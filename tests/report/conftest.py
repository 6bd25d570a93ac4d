"""Run folders shared by the report tests (each built once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nnrecipe as nr

# Class folder names a report must show as text, never as markup.
EVIL_CLASS = "<img src=x onerror=alert(1)>"
AMP_CLASS = "b&c \"quoted\" 'single'"
EVIL_FILE = "<i>italic<b onmouseover=alert(2)>"  # + "{i}.png"; no "/": not allowed in a file name


def make_evil_folder(root: Path) -> Path:
    """Two classes of 8x8 images (stripes + noise), class and file names full of markup."""
    rng = np.random.default_rng(0)
    for c, name in enumerate((EVIL_CLASS, AMP_CLASS)):
        d = root / name
        d.mkdir(parents=True)
        for i in range(30):
            base = np.zeros((8, 8))
            if c == 0:
                base[::2, :] = 200
            else:
                base[:, ::2] = 200
            img = np.clip(base + rng.normal(0, 40, (8, 8)), 0, 255).astype(np.uint8)
            fname = f"{EVIL_FILE}{i}.png" if c == 0 else f"{i}.png"
            Image.fromarray(img).save(d / fname)
    return root


@pytest.fixture(scope="session")
def evil_names() -> dict[str, str]:
    return {"class": EVIL_CLASS, "amp": AMP_CLASS, "file": EVIL_FILE}


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    nr.run(
        "digits",
        out=str(out),
        epochs=3,
        threads=1,
        force=True,
        quiet=True,
        command="nnrecipe run digits",
    )
    return out


@pytest.fixture(scope="session")
def evil_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = make_evil_folder(tmp_path_factory.mktemp("evil") / "images")
    out = tmp_path_factory.mktemp("runs") / "evil"
    nr.run(
        str(data),
        out=str(out),
        epochs=2,
        threads=1,
        force=True,
        quiet=True,
        command="nnrecipe run images",
    )
    return out
