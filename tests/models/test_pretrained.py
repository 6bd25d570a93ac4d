"""Pretrained bodies: torchvision architectures by name with a new head, their layer groups,
weights from safetensors / .pth files, the offline `default` error, and a run's model as body."""

from __future__ import annotations

import json
import math
from urllib.error import URLError

import pytest
import torch
from safetensors.torch import save_file

import nnrecipe as nr
from nnrecipe.models import MODELS, build_model
from nnrecipe.models.builtin import Head
from nnrecipe.models.pretrained import FAMILIES, from_run, head_of
from nnrecipe.train.checkpoint import save_model

# The smallest member of every supported family. Built on the meta device (no memory, no init
# cost) except regnet, whose constructor computes widths from tensors.
SMALLEST = {family: names[0] for family, names in FAMILIES.items()}
SMALLEST["efficientnet"] = "efficientnet_b0"


@pytest.fixture(scope="module")
def digits() -> nr.Data:
    return nr.datasets.load("digits")


def test_every_supported_name_is_a_torchvision_classifier() -> None:
    import torchvision

    known = set(torchvision.models.list_models(module=torchvision.models))
    assert {n for names in FAMILIES.values() for n in names} <= known


@pytest.mark.parametrize("family", sorted(SMALLEST))
def test_family_gets_a_new_head_and_ordered_groups(family: str) -> None:
    name = SMALLEST[family]
    with torch.device("cpu" if family == "regnet" else "meta"):
        model = nr.models.pretrained(name, num_classes=7)
    head = model.get_submodule(head_of(model))
    assert isinstance(head, Head) and head.linear.out_features == 7
    groups = model.nnrecipe_groups
    names = [n for n, _ in model.named_parameters()]
    # Every parameter in exactly one group, the groups in definition order, the head last.
    assert [n for g in groups for n in g] == names
    assert len(groups) == 3 and all(groups)
    assert groups[-1] == [f"{head_of(model)}.linear.weight", f"{head_of(model)}.linear.bias"]


def test_gray_small_inputs_are_adapted_inside_the_model() -> None:
    torch.manual_seed(0)
    model = nr.models.pretrained("resnet18", num_classes=10, in_channels=1, input_size=(8, 8))
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    pre = model.nnrecipe_preprocess
    assert pre["gray_to_rgb"] and pre["resize"] == [32, 32]
    assert json.loads(json.dumps(pre)) == pre  # JSON-able: recorded in the run
    assert model.nnrecipe_pretrained is None  # random weights: not a pretrained body


def _reference(seed: int = 0) -> torch.nn.Module:
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.shufflenet_v2_x0_5(weights=None)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_from_a_file_load_every_body_tensor(tmp_path, suffix: str) -> None:
    ref = _reference()
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    model = nr.models.pretrained("shufflenet_v2_x0_5", weights=path, num_classes=4)
    got = model.net.state_dict()
    body = [k for k in state if not k.startswith("fc.")]
    assert all(torch.equal(got[k], state[k]) for k in body)
    assert model.net.fc.linear.out_features == 4
    assert model.nnrecipe_pretrained == str(path)


def test_weights_of_another_architecture_are_refused(tmp_path) -> None:
    import torchvision

    path = tmp_path / "m.safetensors"
    save_file(torchvision.models.mnasnet0_5(weights=None).state_dict(), str(path))
    with pytest.raises(nr.ConfigError, match="do not fit"):
        nr.models.pretrained("shufflenet_v2_x0_5", weights=path, num_classes=4)


def test_default_weights_offline_say_how_to_get_the_file(tmp_path, monkeypatch) -> None:
    from torchvision.models._api import WeightsEnum

    torch.hub.set_dir(str(tmp_path))  # an empty cache
    calls = []

    def offline(self, *args, **kwargs):  # what torchvision's download raises without network
        calls.append(self)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(nr.ConfigError) as e:
        nr.models.pretrained("resnet18", weights="default", num_classes=10)
    msg = str(e.value)
    assert "resnet18-f37072fd.pth" in msg and "--weights PATH" in msg and msg.count(". ") == 0
    assert calls  # the cache was looked at first, then torchvision was asked


def test_default_weights_come_from_torchvisions_cache(tmp_path, monkeypatch) -> None:
    from torchvision.models import ShuffleNet_V2_X0_5_Weights

    ref = _reference(seed=3)
    url = ShuffleNet_V2_X0_5_Weights.DEFAULT.url
    (tmp_path / "checkpoints").mkdir()
    torch.save(ref.state_dict(), tmp_path / "checkpoints" / url.rsplit("/", 1)[1])
    torch.hub.set_dir(str(tmp_path))
    model = nr.models.pretrained("shufflenet_v2_x0_5", weights="default", num_classes=3)
    assert torch.equal(model.net.conv1[0].weight, ref.conv1[0].weight)
    assert model.nnrecipe_preprocess["resize"] == [224, 224]  # the weights' crop size
    assert model.nnrecipe_pretrained.startswith("torchvision:")


def test_registered_names_build_for_the_data(digits: nr.Data) -> None:
    assert "resnet18" in MODELS and "vit_b_16" in MODELS
    torch.manual_seed(0)
    model = build_model("resnet18", digits)
    bias = model.net.fc.linear.bias
    prior = torch.bincount(digits.train.y, minlength=10).float() / len(digits.train)
    assert torch.allclose(bias, prior.log(), atol=1e-5)  # the head starts at the class prior
    with pytest.raises(nr.ConfigError, match="needs images"):
        build_model("resnet18", nr.datasets.load("wine"))


def test_a_runs_model_is_the_body_of_a_new_model(tmp_path, digits: nr.Data) -> None:
    torch.manual_seed(0)
    source = build_model("cnn2d", digits, width=8)
    save_model(tmp_path / "model.safetensors", source, {"model": "cnn2d", "options": {"width": 8}})
    small = nr.Data.from_splits(
        digits.train.x[:100], digits.train.y[:100] % 3, digits.valid.x[:50], digits.valid.y[:50] % 3
    )
    model = from_run(tmp_path, small)
    src, new = source.state_dict(), model.state_dict()
    assert all(torch.equal(src[k], new[k]) for k in src if not k.startswith("head."))
    assert model.head.linear.out_features == 3
    assert math.isclose(model.head.linear.bias.exp().sum().item(), 1.0, rel_tol=1e-5)
    assert model.nnrecipe_pretrained == f"run:{tmp_path}"
    with pytest.raises(nr.ConfigError, match="no model.safetensors"):
        from_run(tmp_path / "nothing", small)


def test_new_head_on_any_module_with_a_splitter() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5))
    model = nr.models.new_head(
        net, 2, splitter=lambda m: [list(m[0].parameters()), list(m[2].parameters())]
    )
    assert isinstance(model[2], Head) and model(torch.zeros(1, 4)).shape == (1, 2)
    assert model.nnrecipe_groups == [["0.weight", "0.bias"], ["2.linear.weight", "2.linear.bias"]]
