"""Pinning a finished run in a weights manifest (zoo/pin.py)."""

from __future__ import annotations

import pytest

from zoo.api import get_model
from zoo.errors import ZooError
from zoo.files import sha256_file
from zoo.pin import pin_run
from zoo.train import TrainConfig, train
from zoo.weights import read_manifest


def test_pin_pins_a_finished_run(tmp_path):
    config = TrainConfig("mnist_cnn", "digits", epochs=1, batch_size=128, patience=0, seed=7, out=str(tmp_path / "run"),
                         progress=False, model_kwargs={"n_feature": 8}, device="cpu")
    result = train(config)
    spec = pin_run(tmp_path / "run", tag="digits", manifest=tmp_path / "w" / "manifest.json", default=True)
    entry = read_manifest(tmp_path / "w" / "manifest.json")["mnist_cnn.digits"]
    assert entry.sha256 == sha256_file(spec.path) and entry.model_kwargs == {"n_feature": 8}
    assert entry.metrics["accuracy"] == result.test_report["accuracy"]
    assert entry.training["command"] == ("zoo train mnist_cnn --data digits --epochs 1 --batch-size 128 --patience 0 --seed 7 "
                                         "--device cpu -k n_feature=8")
    assert entry.num_params == sum(p.numel() for p in get_model("mnist_cnn", n_feature=8).parameters())
    model = get_model("mnist_cnn", weights=str(spec.path))
    assert model.conv1.out_channels == 8


def test_pinning_needs_a_finished_run_whose_weights_match_its_report(tmp_path):
    with pytest.raises(ZooError, match="no report.json"):
        pin_run(tmp_path / "nothing", tag="x", manifest=tmp_path / "m.json")
    run = tmp_path / "run"
    train(TrainConfig("mnist_mlp", "digits", epochs=1, patience=0, out=str(run), progress=False))
    (run / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes()[:-4])
    with pytest.raises(ZooError, match="does not match the sha256"):
        pin_run(run, tag="x", manifest=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_a_damaged_manifest_is_refused_before_anything_is_copied(tmp_path):
    from zoo.errors import WeightsError

    run = tmp_path / "run"
    train(TrainConfig("mnist_mlp", "digits", epochs=1, patience=0, out=str(run), progress=False))
    manifest = tmp_path / "w" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{not json")
    with pytest.raises(WeightsError, match="is not valid JSON"):
        pin_run(run, tag="x", manifest=manifest)
    assert sorted(p.name for p in manifest.parent.iterdir()) == ["manifest.json"] and manifest.read_text() == "{not json"
