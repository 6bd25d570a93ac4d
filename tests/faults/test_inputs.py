"""Malformed inputs: CSV tables, image folders, config files, CLI flags and Python API calls.
Each is refused with one sentence and exit code 2 (or accepted cleanly), never a traceback."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnrecipe as nr
from nnrecipe.config import make_config
from nnrecipe.errors import NnrecipeError
from nnrecipe.tune.objective import trial_seed

from .conftest import api_refused, check_refused, cli

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _rows(n: int, label) -> str:
    return "a,b,y\n" + "".join(f"{i},{i % 3},{label(i)}\n" for i in range(n))


# -- CSV tables ------------------------------------------------------------------------------
BAD_CSVS = {
    "one-row": ("a,y\n1,0\n", ""),  # refused as a single class before the split
    "two-rows": ("a,y\n1,0\n2,1\n", "needs at least 3 rows"),
    "header-only": ("a,y\n", "no rows"),
    "empty-file": ("", "csv"),
    "every-label-unique": (_rows(40, lambda i: f"c{i}"), "unique"),
    "one-class": (_rows(40, lambda i: "a"), "single class"),
    "no-target-column": ("a,b\n1,2\n3,4\n5,6\n", "no column"),
    "only-target": ("y\n1\n2\n3\n4\n", "only the target"),
    "missing-targets": ("a,y\n1,\n2,1\n3,0\n4,1\n", "rows"),
    "binary": ("\x00\x01\x02\xff" * 50, ""),
    "text-regression": ("a,y\n1,x\n2,y\n3,z\n", "regression"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_is_one_sentence(tmp_path, case) -> None:
    text, words = BAD_CSVS[case]
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("latin-1"))
    task = ["--task", "regression"] if case == "text-regression" else []
    sentence = check_refused(cli("audit", path, "--target", "y", *task, "--out", tmp_path / "a"))
    assert words.lower() in sentence.lower(), sentence


def _cont(x):
    return x["cont"] if isinstance(x, dict) else x  # a table with categorical columns


def test_inf_in_a_csv_is_a_non_finite_finding(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        _rows(60, lambda i: i % 2).replace("\n7,1,", "\ninf,1,").replace("\n9,0,", "\n-inf,0,")
    )
    data = nr.Data.from_csv(path, target="y")
    x = torch.cat([_cont(s.x) for s in data.splits.values()])
    assert torch.isinf(x).sum() == 2  # kept, not imputed as missing
    result = nr.audit(data, seed=0)
    assert "non-finite" in {f.code for f in result.findings}


def test_values_near_the_float_limit_do_not_overflow(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "".join(f"{(i - 30) * 5e306},{i % 2}\n" for i in range(60)))
    data = nr.Data.from_csv(path, target="y")
    x = torch.cat([_cont(s.x) for s in data.splits.values()])
    assert torch.isfinite(x).all() and x.abs().max() < 10  # standardised, not inf


CELLS = st.one_of(
    st.sampled_from(["", "inf", "-inf", "nan", "NaN", "1e308", "-1e308", "1e-320", "0", "x", '"']),
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(string.printable, max_size=4),
)


@FUZZ
@given(
    n_rows=st.integers(0, 8),
    n_cols=st.integers(1, 3),
    cells=st.lists(CELLS, min_size=32, max_size=32),
    labels=st.lists(st.sampled_from(["a", "b", "c", "", "1", "2.5"]), min_size=8, max_size=8),
)
def test_fuzzed_tables(tmp_path, n_rows, n_cols, cells, labels) -> None:
    header = ",".join([f"f{j}" for j in range(n_cols)] + ["y"])
    rows = [
        ",".join(
            [
                cells[(i * n_cols + j) % 32].replace(",", ";").replace("\n", " ")
                for j in range(n_cols)
            ]
            + [labels[i]]
        )
        for i in range(n_rows)
    ]
    path = tmp_path / "fuzz.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    try:
        data = nr.Data.from_csv(path, target="y")
    except NnrecipeError as e:
        assert "\n" not in str(e).strip() and len(str(e)) > 20
        return
    for split in data.splits.values():
        assert len(split) >= 1


@FUZZ
@given(n=st.integers(1, 12), k=st.integers(1, 12), seed=st.integers(0, 3))
def test_fuzzed_arrays_split_or_refuse(n, k, seed) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)).astype("float32"), rng.integers(0, k, n)
    try:
        data = nr.Data.from_arrays(x, y, seed=seed)
    except NnrecipeError as e:
        assert "\n" not in str(e) and len(str(e)) > 20
        return
    assert sum(len(s) for s in data.splits.values()) == n


# -- image folders ---------------------------------------------------------------------------
def _png(path: Path, size: int = 8) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 127, np.uint8)).save(path)


def _folder(tmp_path: Path, case: str) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    if case == "empty":
        pass
    elif case == "one-class":
        for i in range(6):
            _png(root / "cat" / f"{i}.png")
    elif case == "empty-classes":
        (root / "cat").mkdir()
        (root / "dog").mkdir()
    elif case == "only-garbage":
        for c in ("cat", "dog"):
            (root / c).mkdir()
            for i in range(4):
                (root / c / f"{i}.png").write_bytes(b"not a png")
    elif case == "zero-bytes":
        for c in ("cat", "dog"):
            (root / c).mkdir()
            for i in range(4):
                (root / c / f"{i}.png").write_bytes(b"")
    elif case == "not-images":
        for c in ("cat", "dog"):
            (root / c).mkdir()
            for i in range(4):
                (root / c / f"{i}.txt").write_text("hello")
    elif case == "one-image-each":
        _png(root / "cat" / "0.png")
        _png(root / "dog" / "0.png")
    elif case == "files-at-top":
        for i in range(6):
            _png(root / f"{i}.png")
    return root


FOLDERS = [
    "empty",
    "one-class",
    "empty-classes",
    "only-garbage",
    "zero-bytes",
    "not-images",
    "one-image-each",
    "files-at-top",
]


@pytest.mark.parametrize("case", FOLDERS)
def test_bad_image_folder_is_one_sentence(tmp_path, case) -> None:
    check_refused(cli("audit", _folder(tmp_path, case), "--out", tmp_path / "a"))


def test_missing_path_is_one_sentence(tmp_path) -> None:
    check_refused(cli("audit", tmp_path / "nothing-here.csv", "--target", "y"))
    check_refused(cli("run", tmp_path / "nothing-here", "--out", tmp_path / "r"))


# -- config files ----------------------------------------------------------------------------
CONFIG_FILES = {
    "deep.json": '{"data": "iris", "tune_space": ' + "[" * 50000 + "]" * 50000 + "}",
    "deep.toml": "data = 'iris'\ntune_space = {a = " + "[" * 50000 + "]" * 50000 + "}\n",
    "deep-ok-parser.json": '{"data": "iris", "tune_space": {"a": ' + "[" * 100 + "]" * 100 + "}}",
    "latin1.toml": "data = 'caf\xe9'\n",
    "utf16.json": '{"data": "iris"}',
    "list.json": "[1, 2]",
    "string.json": '"iris"',
    "garbage.toml": "data = = =\n",
    "garbage.json": "{data: iris}",
    "empty.json": "",
    "unknown-key.toml": "data = 'iris'\nepoch = 3\n",
    "bad-values.toml": "data = 'iris'\nepochs = -1\nlr = 'fast'\nbatch_size = 0\n",
    "out-empty.toml": "data = 'iris'\nout = ''\n",
    "no-data.toml": "epochs = 3\n",
    "bad-task.json": '{"data": "iris", "task": "telepathy"}',
    "bad-model.json": '{"data": "iris", "model": "gpt9"}',
    "ensemble-no-tune.json": '{"data": "iris", "ensemble": 3}',
}


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_bad_config_file_is_one_sentence(tmp_path, name) -> None:
    path = tmp_path / name
    text = CONFIG_FILES[name]
    path.write_bytes(
        text.encode("utf-16")
        if name.startswith("utf16")
        else text.encode("latin-1")
        if name.startswith("latin1")
        else text.encode()
    )
    out = [] if name.startswith("out-") else ["--out", tmp_path / "r"]
    check_refused(cli("run", "--config", path, *out, "--quiet"))
    assert not (tmp_path / "r").exists()


def test_config_file_that_is_a_folder(tmp_path) -> None:
    check_refused(cli("run", "--config", tmp_path, "--quiet"))


VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5)
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "data",
        "epochs",
        "lr",
        "batch_size",
        "seed",
        "out",
        "valid",
        "test",
        "tune_space",
        "model",
        "task",
        "threads",
        "patience",
        "clip",
        "schedule",
        "ensemble",
        "tune_trials",
        "nonsense",
    ]
)


@FUZZ
@given(values=st.dictionaries(KEYS, VALUES, max_size=6))
def test_fuzzed_settings_validate_or_refuse(values) -> None:
    try:
        make_config(values)
    except NnrecipeError as e:
        assert len(str(e)) > 20


@FUZZ
@given(depth=st.integers(33, 3000))
def test_deeply_nested_settings_are_refused(depth) -> None:
    nested: object = 1
    for _ in range(depth):
        nested = [nested]
    assert "levels deep" in api_refused(make_config, {"data": "iris", "tune_space": {"a": nested}})


# -- CLI flags -------------------------------------------------------------------------------
FLAGS = [
    ["--epochs", "0"],
    ["--epochs", "-3"],
    ["--lr", "0"],
    ["--lr", "-1"],
    ["--batch-size", "0"],
    ["--batch-size", "-8"],
    ["--out", ""],
    ["--out", "   "],
    ["--threads", "0"],
    ["--task", "telepathy"],
    ["--model", "gpt9"],
    ["--ensemble", "3"],
    ["--tune", "0"],
    ["--augment", "2"],
    ["--human-error", "1.5"],
    ["--weight-decay", "-1"],
    ["--image-size", "1"],
    ["--seed", "-1"],
]


@pytest.mark.parametrize("flags", FLAGS, ids=[" ".join(f) or "empty" for f in FLAGS])
def test_bad_run_flag_is_one_sentence_before_any_work(tmp_path, flags) -> None:
    result = cli("run", "iris", *flags, "--quiet")
    check_refused(result)
    assert "data:" not in result.stdout  # refused before the data were loaded


def test_no_data_given() -> None:
    check_refused(cli("run", "--quiet"), "no data")


# -- Python API calls ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris():
    return nr.datasets.load("iris")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "16"])
def test_learner_refuses_bad_batch_sizes(iris, batch_size) -> None:
    learner = nr.Learner(torch.nn.Linear(4, 3), iris, batch_size=batch_size, threads=1, quiet=True)
    assert "batch size" in api_refused(learner.fit, 1)


def test_predict_on_inputs_of_the_wrong_width(iris) -> None:
    learner = nr.Learner(torch.nn.Linear(4, 3), iris, threads=1, quiet=True)
    learner.fit(1)
    assert "(N, 4)" in api_refused(learner.predict, np.zeros((5, 7), "float32"))
    api_refused(learner.predict, np.zeros((0, 4), "float32"))
    assert learner.predict(np.zeros((5, 4), "float32")).shape == (5,)


@pytest.mark.parametrize(
    "kwargs",
    [{"out": ""}, {"out": " "}, {"epochs": 0}, {"batch_size": 0}, {"valid": 0}, {"nonsense": 1}],
)
def test_run_refuses_bad_settings(tmp_path, kwargs) -> None:
    sentence = api_refused(nr.run, "iris", quiet=True, **kwargs)
    key = next(iter(kwargs)).split("_")[0]  # the sentence names the setting it refuses
    assert key in sentence.lower(), sentence


@pytest.mark.parametrize(
    "data",
    [
        (np.zeros((2, 3)), np.array([0, 1])),
        (np.zeros((1, 3)), np.array([0])),
        (np.zeros((30, 3)), np.arange(30)),
        (np.zeros((5, 3)), np.array([0, 1, 2, 3, 3])),
    ],
)
def test_arrays_too_small_or_odd_to_split(data) -> None:
    x, y = data
    message = api_refused(nr.Data.from_arrays, x, y, task="classification")
    assert "row" in message


def test_trial_seed_follows_parameters_not_trial_numbers() -> None:
    a = trial_seed(0, {"lr": 0.01, "width": 64})
    assert a == trial_seed(0, {"width": 64, "lr": 0.01})  # order does not matter
    assert a != trial_seed(1, {"lr": 0.01, "width": 64}) != trial_seed(0, {"lr": 0.02, "width": 64})
    assert json.dumps(a) == str(a) and 0 <= a < 2**31


def test_retried_trial_scores_like_the_original(iris) -> None:
    """A killed trial retried under another number (what a resumed study does) gets the same
    score: the seed follows its parameters (it followed the trial number before)."""
    import optuna

    nr_tune = pytest.importorskip("nnrecipe.tune")
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    study = optuna.create_study(direction="minimize")
    for _ in range(2):
        study.enqueue_trial({"lr": 0.005})
    from nnrecipe.tune.objective import Objective

    objective = Objective(data=iris, space=space, model="linear", epochs=2, seed=0, threads=1)
    study.optimize(objective, n_trials=2)
    first, second = (t.value for t in study.trials)
    assert first == second and nr_tune is not None
