"""Fetching with a known sha256 (zoo/download.py, used by zoo/weights.py): a URL into the cache, and
hf:// files from a Hub cache laid out as huggingface_hub lays it out (models--org--name/{blobs,refs,snapshots}),
offline (the ``hf_cache`` fixture in conftest.py)."""

from __future__ import annotations

import pytest
import torch

from zoo.api import get_model
from zoo.download import cache_dir, fetch_url_to_cache
from zoo.errors import WeightsError
from zoo.files import sha256_file
from zoo.weights import fetch_hf, parse_hf_uri


@pytest.fixture
def weights_file(tmp_path):
    from zoo.state_dicts import save_state_dict

    path = tmp_path / "w.safetensors"
    save_state_dict(get_model("mnist_cnn", n_feature=4), path, metadata={"arch": "mnist_cnn"})
    return path


def test_the_cache_lives_under_zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / "weights"


def test_fetch_to_cache_verifies_before_it_keeps_anything(weights_file, tmp_path):
    path = weights_file
    good = sha256_file(path)
    cached = fetch_url_to_cache(path.as_uri(), good, progress=False)
    assert sha256_file(cached) == good and cached.name == f"{good}.safetensors"
    with pytest.raises(WeightsError, match="nothing was cached"):
        fetch_url_to_cache(path.as_uri(), "f" * 64, progress=False)
    with pytest.raises(WeightsError, match="could not download"):
        fetch_url_to_cache((tmp_path / "absent.safetensors").as_uri(), "e" * 64, progress=False)
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]  # no temp files, no bad file


def test_fetch_offline_from_the_hub_cache(hf_cache):
    COMMIT = (hf_cache / "refs" / "main").read_text()
    uri = f"hf://me/mnist-cnn/model.safetensors@{COMMIT}"
    model = get_model("mnist_cnn", weights=uri)
    assert model.conv1.out_channels == 32  # the builder arguments travel in the file's metadata
    assert torch.equal(model.conv1.weight, get_model("mnist_cnn.digits").conv1.weight)
    assert fetch_hf(parse_hf_uri("hf://me/mnist-cnn/model.safetensors@v1")).is_file()  # a tag, resolved from refs/


def test_fetch_failure_paths(hf_cache):
    COMMIT = (hf_cache / "refs" / "main").read_text()
    with pytest.raises(WeightsError, match="has sha256 .* expected 000"):
        get_model("mnist_cnn", weights=f"hf://me/mnist-cnn/model.safetensors@{COMMIT}#sha256={'0' * 64}")
    with pytest.raises(WeightsError, match="not in the Hub cache"):
        fetch_hf(parse_hf_uri(f"hf://me/mnist-cnn/other.safetensors@{COMMIT}"))
    with pytest.raises(WeightsError, match="not in the Hub cache"):
        fetch_hf(parse_hf_uri("hf://me/mnist-cnn/model.safetensors@v2"))  # unknown revision, network off
    with pytest.raises(WeightsError, match="not in the Hub cache"):
        fetch_hf(parse_hf_uri("hf://someone/else/model.safetensors"))
    blob = (hf_cache / "snapshots" / COMMIT / "model.safetensors").resolve()
    blob.write_bytes(blob.read_bytes()[:-10])  # a damaged cached file is never trusted, nor kept
    with pytest.raises(WeightsError, match="in the Hub cache is corrupt .* removed from the Hub cache"):
        get_model("mnist_cnn", weights=f"hf://me/mnist-cnn/model.safetensors@{COMMIT}")
