"""The Python API (zoo/api.py, re-exported by the ``zoo`` facade)."""

from __future__ import annotations

import zoo
from zoo import api


def test_the_facade_exports_the_api():
    for name in ("list_models", "get_model", "list_datasets", "get_dataset", "evaluate"):
        assert getattr(zoo, name) is getattr(api, name)


def test_public_api_lists_and_builds():
    assert "mnist_cnn" in zoo.list_models()
    assert zoo.list_models("mnist_*", task="segmentation") == []
    assert "digits" in zoo.list_datasets()
    model = zoo.get_model("mnist_cnn", n_feature=8)
    assert model.conv1.out_channels == 8


def test_arch_dot_tag_names_load_registered_weights():
    model = zoo.get_model("mnist_cnn.digits")
    assert model.conv1.out_channels == 32  # the digits weights bring their builder argument n_feature=32


# -- get_weights: one typed object for every form a user has --------------------------------------------------


def _run_file(tmp_path, *, with_report: bool = True):
    """A run's folder as ``zoo train`` leaves it: model.safetensors (metadata) and report.json beside it."""
    import json

    import torch

    from zoo.files import write_json
    from zoo.state_dicts import save_state_dict

    torch.manual_seed(0)
    model = zoo.get_model("mnist_cnn", n_feature=4)
    prep = {"channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.25], "resize": "bilinear"}
    path = tmp_path / "run" / "model.safetensors"
    path.parent.mkdir()
    sha256 = save_state_dict(model, path, metadata={"arch": "mnist_cnn", "dataset": "digits", "model_kwargs": json.dumps({"n_feature": 4}),
                                                    "preprocessing": json.dumps(prep)})
    if with_report:
        write_json(path.parent / "report.json", {
            "model": "mnist_cnn", "dataset": "digits", "split": "test", "command": "zoo train mnist_cnn --data digits -k n_feature=4",
            "sha256": sha256, "metrics": {"accuracy": 0.5, "f1": 0.25}, "epochs_run": 2, "best_epoch": 1, "num_params": 123,
            "class_names": list("0123456789"), "model_kwargs": {"n_feature": 4}, "versions": {"hubzoo": "0"}})
    return model, path, prep


def test_get_weights_of_a_registered_entry_is_typed_and_frozen():
    import dataclasses

    from zoo.weights import Weights

    w = zoo.get_weights("mnist_cnn.fashion")
    assert isinstance(w, Weights) and (w.arch, w.tag, w.name, w.source) == ("mnist_cnn", "fashion", "mnist_cnn.fashion", "manifest")
    assert w.model_kwargs == {"n_feature": 48} and w.num_params == 97_856 and w.dataset == "fashion_mnist"
    assert w.class_names[0] == "T-shirt/top" and w.preprocessing["mean"] == [0.286]
    assert w.command.startswith("zoo train mnist_cnn --data fashion_mnist") and w.metrics["split"] == "test"
    with __import__("pytest").raises(dataclasses.FrozenInstanceError):
        w.tag = "other"
    # the same object whichever way it is asked for
    assert zoo.get_weights("mnist_cnn", weights="fashion") == w == zoo.get_weights(w)


def test_get_weights_default_transforms_and_get_model():
    import torch

    from zoo.plugins import get_registry

    default = zoo.get_weights("mnist_cnn")
    assert default == get_registry().model("mnist_cnn").default_weights
    w = zoo.get_weights("mnist_cnn.fashion")
    prep = w.transforms()
    x = prep(torch.full((28, 28), 255, dtype=torch.uint8))
    assert x.shape == (1, 28, 28) and torch.allclose(x, torch.full_like(x, (1 - 0.286) / 0.353))
    model = zoo.get_model(w)
    assert model.conv1.out_channels == 48 and sum(p.numel() for p in model.parameters()) == w.num_params


def test_get_weights_of_a_run_file_reads_its_metadata_and_report(tmp_path):
    import torch

    model, path, prep = _run_file(tmp_path)
    w = zoo.get_weights(path)
    assert (w.arch, w.tag, w.source, w.name) == ("mnist_cnn", None, "file", str(path))
    assert w.model_kwargs == {"n_feature": 4} and w.preprocessing == prep and w.class_names == tuple("0123456789")
    assert w.metrics == {"split": "test", "accuracy": 0.5, "precision": None, "recall": None, "f1": 0.25, "miou": None, "dice": None}
    assert w.command == "zoo train mnist_cnn --data digits -k n_feature=4" and w.num_params == 123
    loaded = zoo.get_model(w)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert zoo.get_weights(str(path)) == w == zoo.get_weights("mnist_cnn", weights=str(path))


def test_a_report_of_other_weights_gives_no_metrics_and_a_changed_file_is_refused_at_load(tmp_path):
    import pytest

    from zoo.errors import WeightsError

    _, path, _ = _run_file(tmp_path)
    best = path.with_name("best.safetensors")
    best.write_bytes(path.read_bytes().replace(b'"dataset":"digits"', b'"dataset":"digitz"'))
    w = zoo.get_weights(best)
    assert w.metrics == {} and w.training == {} and w.class_names == tuple("0123456789")  # names: same model's run
    w = zoo.get_weights(path)
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="sha256 of .* its hash when it was resolved"):
        zoo.get_model(w)


def test_fallbacks_run_in_one_order_weights_then_dataset_then_model(tmp_path):
    import dataclasses

    _, path, _ = _run_file(tmp_path, with_report=False)
    w = zoo.get_weights(path)
    assert w.class_names == tuple(str(d) for d in range(10))  # not in the file: the digits data set's names
    from zoo.plugins import get_registry

    spec = get_registry().model("luna_unet")
    w = zoo.get_weights("luna_unet.synthetic")
    assert w.class_names == ("background", "nodule") and w.preprocessing is None and spec.preprocessing is None
    bare = dataclasses.replace(zoo.get_weights("mnist_mlp.digits"), class_names=None, dataset="no_such_data", preprocessing=None)
    filled = zoo.get_weights(bare)
    assert filled.class_names is None and filled.preprocessing == get_registry().model("mnist_mlp").preprocessing


def test_get_weights_bad_references_are_one_clear_error(tmp_path):
    import pytest

    from zoo.errors import UnknownNameError, WeightsError

    for ref, message in [("mnist_cnn.nope", "model 'mnist_cnn' has no weights 'nope'. Available weights: digits"),
                         ("cifar_net", "has no trained weights to predict with"),
                         ("mnist_cnm.digits", "unknown model 'mnist_cnm'"),
                         (str(tmp_path / "missing.safetensors"), "does not exist"),
                         (str(tmp_path / "w.pt"), "refusing to load pickle checkpoint"),
                         ("hf://org/repo/file.bin", "cannot parse weights URI")]:
        with pytest.raises((WeightsError, UnknownNameError), match=message):
            zoo.get_weights(ref)
    from zoo.state_dicts import save_state_dict

    save_state_dict({"w": __import__("torch").zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(WeightsError, match="does not say which model it holds"):
        zoo.get_weights(tmp_path / "plain.safetensors")


def test_get_weights_of_an_hf_uri(hf_cache):
    from tests.conftest import COMMIT

    w = zoo.get_weights(f"hf://me/mnist-cnn/model.safetensors@{COMMIT}")
    assert w.source == f"hf://me/mnist-cnn/model.safetensors@{COMMIT}" and w.name == w.source and w.arch == "mnist_cnn"
    assert w.model_kwargs == {"n_feature": 32} and w.class_names == tuple(str(d) for d in range(10))
    assert zoo.get_model(w).conv1.out_channels == 32


def test_split_ref_is_the_one_place_arch_tag_is_split():
    import ast
    from pathlib import Path

    from zoo.weights import split_ref

    assert split_ref("mnist_cnn.fashion") == ("mnist_cnn", "fashion") and split_ref("mnist_cnn") == ("mnist_cnn", None)
    assert split_ref("mnist_mlp.fashion_wide") == ("mnist_mlp", "fashion_wide")
    hand_split = []
    for path in sorted((Path(zoo.__file__).parent).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("partition", "rpartition")  # how arch.tag was split by hand
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "."):
                hand_split.append(path.name)
    assert hand_split == ["weights.py"], hand_split
