"""The frozen backbone computed once (``zoo/features.py``): exact head inputs, the cache across runs, and the
models it refuses (a head of several modules, randomness below the head, a head that is not the last step)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.datasets.common import ImageTensorDataset
from zoo.features import cache_folder, head_inputs, why_not_cacheable


class Net(nn.Module):
    def __init__(self, dropout: float = 0.0, after_head: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(16, 3)
        self.after_head = after_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(self.dropout(self.features(x)))
        return out * 2 if self.after_head else out


def images(n: int = 20, seed: int = 0) -> ImageTensorDataset:
    g = torch.Generator().manual_seed(seed)
    return ImageTensorDataset(torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g),
                              torch.randint(0, 3, (n,), generator=g), mean=(0.5,), std=(0.25,), class_names=("a", "b", "c"))


def frozen_of(model: Net) -> list[nn.Module]:
    return [model.features[0], model.features[1]]


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))


def test_head_inputs_are_the_backbone_output_and_are_reused_by_the_next_run():
    torch.manual_seed(0)
    model, data = Net().eval(), images()
    assert why_not_cacheable(model, ("fc",), data.batch(torch.arange(4))[0], frozen=frozen_of(model), device=torch.device("cpu")) is None
    first = head_inputs(model, ("fc",), data, data, batch_size=7, device=torch.device("cpu"), progress=False)
    x, y = data.batch(torch.arange(len(data)))
    with torch.no_grad():
        assert torch.allclose(first.train_set.features, model.features(x), atol=1e-6)
        assert torch.allclose(first.head(first.train_set.batch(torch.arange(5))[0]), model(x[:5]), atol=1e-6)
    assert torch.equal(first.train_set.labels, y) and first.val_set is first.train_set and not first.reused
    assert len(list(cache_folder().glob("*.safetensors"))) == 1
    again = head_inputs(model, ("fc",), data, data, batch_size=7, device=torch.device("cpu"), progress=False)
    assert again.reused and torch.equal(again.train_set.features, first.train_set.features)


def test_other_backbone_weights_or_other_images_are_not_served_from_the_cache():
    torch.manual_seed(0)
    model, data = Net().eval(), images()
    head_inputs(model, ("fc",), data, data, batch_size=8, device=torch.device("cpu"), progress=False)
    with torch.no_grad():
        model.features[0].weight.add_(1)
    assert not head_inputs(model, ("fc",), data, data, batch_size=8, device=torch.device("cpu"), progress=False).reused
    other = head_inputs(model, ("fc",), images(seed=1), images(seed=1), batch_size=8, device=torch.device("cpu"), progress=False)
    assert not other.reused and len(list(cache_folder().glob("*.safetensors"))) == 3
    with torch.no_grad():  # the head is not part of the key: training it changes nothing stored
        model.fc.weight.add_(1)
    assert head_inputs(model, ("fc",), data, data, batch_size=8, device=torch.device("cpu"), progress=False).reused


@pytest.mark.parametrize("model, head, reason", [
    (Net(dropout=0.5), ("fc",), "random in training"),
    (Net(after_head=True), ("fc",), "not its head 'fc' applied"),
    (Net(), ("features.4", "fc"), "is not one module"),
])
def test_models_whose_head_input_cannot_be_stored_are_refused_with_the_reason(model, head, reason):
    probe = images().batch(torch.arange(6))[0]
    assert reason in why_not_cacheable(model, head, probe, frozen=frozen_of(model), device=torch.device("cpu"))


def test_the_check_leaves_the_random_stream_as_it_was():
    model = Net(dropout=0.5)
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    why_not_cacheable(model, ("fc",), images().batch(torch.arange(4))[0], frozen=frozen_of(model), device=torch.device("cpu"))
    assert torch.equal(torch.rand(3), expected)


def test_a_frozen_backbone_run_trains_the_same_weights_with_and_without_the_cache(tmp_path, capsys):
    from safetensors.torch import load_file

    from zoo.runs import TrainConfig
    from zoo.train import train

    common = dict(model="mnist_cnn", data="digits", init="mnist_cnn.digits", freeze="backbone", epochs=2, device="cpu")
    cached = train(TrainConfig(**common, out=str(tmp_path / "cached")))
    said = capsys.readouterr().out
    assert "the backbone's output of 1438 samples computed once; each epoch trains 'fc2'" in said
    whole = train(TrainConfig(**common, feature_cache=False, out=str(tmp_path / "whole")))
    assert "--no-feature-cache" in whole.run_dir.joinpath("report.json").read_text()
    a, b = load_file(str(cached.weights)), load_file(str(whole.weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert cached.test_report["accuracy"] == whole.test_report["accuracy"]


def test_augmented_training_images_run_the_whole_model_and_say_why(tmp_path, capsys):
    from zoo.runs import TrainConfig
    from zoo.train import train

    train(TrainConfig(model="mnist_cnn", data="digits", init="mnist_cnn.digits", freeze="backbone", epochs=1,
                      augment="light", device="cpu", out=str(tmp_path / "run")))
    assert "the whole model runs every epoch (the training images are augmented (--augment none" in capsys.readouterr().out
    assert not cache_folder().exists()
