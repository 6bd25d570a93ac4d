"""Defaults against the baselines: `nr.run` with no option on every offline built-in data set
and on an image folder (scikit-learn's digits upscaled to 32x32 RGB PNG files in class folders,
the folder of issue 14), one line each: the linear baseline's valid score, the model's, the best
and the last epoch, the training and the whole run's wall time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/defaults.py [--only digits,folder] [--seeds 0]
        [--set epochs=20 --set schedule=one-cycle]   # compare with other settings

`folder` is the generated image folder. mnist, fashion-mnist and cifar10 need a download and
are left out. The threads are pinned (``--threads``, default 1) so that runs compare.

Measured (seed 0, 1 thread, 2 shared cores under load 3-12, so the seconds are noisy; budget 100,
auto, patience 5; in brackets the former fixed 20-epoch one-cycle, patience 10):

    data           metric      linear  model             best/ran   train s
    digits         accuracy    0.9805  0.9916 (0.9916)   17/21 (17/20)   5.3 (5.1, quiet machine)
    breast_cancer  accuracy    0.9737  0.9825 (0.9825)    8/12 (8/19)
    wine           accuracy    1.0000  1.0000 (1.0000)    8/12 (8/19)   tie at 1.0
    iris           accuracy    1.0000  1.0000 (1.0000)   16/16 (18/20)  tie at 1.0
    diabetes       rmse       57.587  55.939 (55.982)     4/13 (4/15)
    penguins       accuracy    1.0000  1.0000 (1.0000)   11/13 (11/20)  tie at 1.0
    mnist1d        accuracy    0.3200  0.9862 (0.9800)   28/29 (19/20)
    hetero         crps        -       0.1898 (0.1989)   31/45 (20/20)
    shapes         mean_dice   0.2166  0.9861            42/45
    nuclei         mean_dice   0.8827  0.9581             8/17
    movielens-100k rmse        0.9424  0.9123             9/18
    lee            wordsim353  -       0.2965            11/11
    folder seed 0  accuracy    0.9721  0.9944 (0.9554)   50/50 (19/20)  old defaults lose
    folder seed 1  accuracy    0.9359  0.9944            47/52
    folder seed 2  accuracy    0.9610  0.9861            35/36
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import nnrecipe as nr

OFFLINE = (
    "digits",
    "breast_cancer",
    "wine",
    "iris",
    "diabetes",
    "penguins",
    "mnist1d",
    "hetero",
    "shapes",
    "nuclei",
    "movielens-100k",
    "lee",
    "text",
    "folder",
)


def digits_folder(root: Path, size: int = 32) -> Path:
    """scikit-learn's 1,797 digits as `size`x`size` RGB PNG files in one folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        pixels = (img / 16 * 255).astype(np.uint8)
        im = Image.fromarray(pixels).resize((size, size), Image.BILINEAR).convert("RGB")
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        im.save(folder / f"{i:04d}.png")
    return root


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def measure(name: str, data: str, work: Path, seed: int, threads: int, **settings: Any) -> dict:
    t0 = time.perf_counter()
    result = nr.run(
        data, out=str(work / f"{name}-{seed}"), quiet=True, threads=threads, seed=seed, **settings
    )
    wall = time.perf_counter() - t0
    s = result.summary
    train = json.loads((result.path / "stages" / "train.json").read_text())
    metric = json.loads((result.path / "config.json").read_text())["data"]["task"]["primary_metric"]
    baselines = s["baselines"]["models"] if s.get("baselines") else {}
    linear = baselines.get("linear", {}).get("valid", {}).get(metric)
    model = s["valid"][metric]
    return {
        "data": name,
        "seed": seed,
        "metric": metric,
        "linear": linear,
        "model": model,
        "beats": None
        if linear is None
        else "tie"
        if model == linear
        else _better(metric, model, linear),
        "best": train["best_epoch"],
        "ran": train["epochs_run"],
        "train_s": train["seconds"],
        "wall_s": wall,
    }


def _better(metric: str, a: float, b: float) -> bool:
    lower = metric in ("rmse", "mae", "loss", "nll", "error", "crps")
    return a < b if lower else a > b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(OFFLINE))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE run setting")
    args = parser.parse_args()
    settings = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = None
        header = f"{'data':15} {'seed':>4} {'metric':9} {'linear':>7} {'model':>7} beats "
        print(header + f"{'best':>4} {'ran':>4} {'train s':>8} {'wall s':>7}", flush=True)
        for name in args.only.split(","):
            for seed in map(int, args.seeds.split(",")):
                if name == "folder" and folder is None:
                    folder = digits_folder(work / "digits32")
                data = str(folder) if name == "folder" else name
                try:
                    r = measure(name, data, work, seed, args.threads, **settings)
                except nr.NnrecipeError as e:
                    print(f"{name:15} {seed:>4} failed: {e}", flush=True)
                    continue
                lin = "-" if r["linear"] is None else f"{r['linear']:.4f}"
                beats = {True: "yes", False: "NO", None: "-", "tie": "tie"}[r["beats"]]
                print(
                    f"{name:15} {seed:>4} {r['metric']:9} {lin:>7} {r['model']:>7.4f} {beats:5} "
                    f"{r['best']:>4} {r['ran']:>4} {r['train_s']:>8.1f} {r['wall_s']:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
