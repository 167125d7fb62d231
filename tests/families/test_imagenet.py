"""The ImageNet family (``zoo/families/imagenet.py``): torchvision's ``vgg16`` with torchvision's published weights,
pinned by URL and sha256; downloaded once into the cache (a ``file://`` URL stands in for the network here), the
pickle unpickled as tensors only after its hash matches; offline, one line that says where the file goes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.errors import WeightsError
from zoo.files import sha256_file
from zoo.plugins import get_registry


def test_vgg16_is_registered_with_torchvisions_pinned_imagenet_weights():
    spec = get_registry().model("vgg16")
    weights = spec.weights["imagenet"]
    assert weights.url == "https://download.pytorch.org/models/vgg16-397923af.pth"
    assert weights.sha256.startswith("397923af")  # torchvision's file name carries the first 8 hex digits
    assert weights.num_params == 138_357_544 and len(set(weights.class_names)) == 1000
    assert weights.preprocessing["crop_pct"] == 0.875 and spec.head == ("classifier.6",)


def test_the_builder_is_torchvisions_vgg16_with_any_head():
    model = zoo.get_model("vgg16", num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    assert model.classifier[6].out_features == 3


def test_offline_the_download_is_one_line_saying_where_the_file_goes(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    import torch.hub

    def unreachable(url, dst, progress=True):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    code = main(["info", "vgg16.imagenet"])
    assert code == 0
    capsys.readouterr()
    code = main(["predict", "vgg16", "--weights", "imagenet", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("zoo: error:") == 1, err
    assert f"copy the file there as {tmp_path / 'weights' / get_registry().model('vgg16').weights['imagenet'].sha256}.pth" in err
    assert not list((tmp_path / "weights").glob("*.pth")) and not list((tmp_path / "weights").glob(".download*"))


def test_a_pinned_pth_is_downloaded_checked_and_read_as_tensors(tmp_path, monkeypatch):
    """The path vgg16.imagenet's file takes, with a small model's .pth written as torchvision writes its own
    (a registered entry whose url names a pickle; a file:// URL stands in for download.pytorch.org)."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    source = zoo.get_model("mnist_mlp")
    pth = tmp_path / "mnist_mlp-small.pth"
    torch.save(source.state_dict(), pth)
    registered = get_registry().model("mnist_mlp").weights["digits"]
    pinned = dataclasses.replace(registered, tag="published", file=pth.name, url=pth.as_uri(), sha256=sha256_file(pth),
                                 model_kwargs={}, base_dir=str(tmp_path / "not-here"))
    loaded = zoo.get_model("mnist_mlp", weights=pinned)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), source.state_dict().values()))
    cached = tmp_path / "home" / "weights" / f"{pinned.sha256}.pth"
    assert cached.is_file()
    cached.write_bytes(b"damaged")  # a damaged cache file is fetched again, never read
    zoo.get_model("mnist_mlp", weights=pinned)
    assert sha256_file(cached) == pinned.sha256
    cached.unlink()
    pth.write_bytes(b"another file at the same URL")
    with pytest.raises(WeightsError, match="has sha256 .* nothing was cached"):
        zoo.get_model("mnist_mlp", weights=pinned)
    assert not cached.exists()


def test_verify_skips_weights_not_downloaded_yet_and_says_so(capsys, tmp_path, monkeypatch):
    """Absent, not wrong: `zoo verify` checks the hash of what is on this machine and names what is fetched later."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    assert main(["verify", "vgg16"]) == 0
    assert "skipped vgg16.imagenet: not downloaded here: fetched from https://download.pytorch.org" in capsys.readouterr().out
    assert main(["verify", "--metrics", "vgg16"]) == 0
    assert "SKIPPED: not downloaded here" in capsys.readouterr().out
