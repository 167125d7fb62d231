"""hubconf.py: entries for every registered model, listed and loaded both ways torch.hub offers
(a local directory, and a cached "owner/repo:ref" checkout), and from a plain checkout with only
the dependencies installed (a subprocess: that is what this test is about)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch

import zoo
from zoo import hookimpl
from zoo.plugins import build_registry

def test_local_load_with_shipped_weights(repo):
    model = torch.hub.load(str(repo), "mnist_cnn", source="local", weights="digits")
    reference = zoo.get_model("mnist_cnn", weights="digits")
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert torch.hub.load(str(repo), "mnist_mlp", source="local").network[0].in_features == 784


def test_cached_checkout_lists_models_only_and_helps(cached_hub_repo):
    entries = torch.hub.list(cached_hub_repo, trust_repo=True, skip_validation=True, verbose=False)
    assert sorted(entries) == zoo.list_models()
    text = torch.hub.help(cached_hub_repo, "mnist_cnn", trust_repo=True, skip_validation=True)
    assert "Input: float32 [N, 1, 28, 28]" in text and "Output: logits [N, 10]" in text
    assert "digits [default]: trained on digits" in text and "n_feature" in text
    model = torch.hub.load(cached_hub_repo, "mnist_cnn", trust_repo=True, skip_validation=True, pretrained=True)
    assert model.conv1.out_channels == 32


def test_plugin_models_become_hub_entries(repo, monkeypatch):
    class HubPlugin:
        __name__ = "hub-plugin"

        @hookimpl
        def register_models(self, register):
            register("plugin_net", lambda **kw: torch.nn.Identity(), task="classification", description="from a plugin")

    registry = build_registry(extra_plugins=[HubPlugin()], use_entry_points=False)
    monkeypatch.setattr("zoo.plugins._REGISTRY", registry)
    hubconf = torch.hub._import_module("hubconf", str(repo / "hubconf.py"))
    assert "from a plugin" in hubconf.plugin_net.__doc__ and "plugin_net" in dir(hubconf)
    assert isinstance(torch.hub.load(str(repo), "plugin_net", source="local"), torch.nn.Identity)


@pytest.mark.slow
def test_plain_checkout_without_installing(copy_checkout, tmp_path):
    """A copy of the checkout, Python started without site customisation (so the editable install of
    this project is invisible), only the dependencies' site-packages on sys.path."""
    checkout = copy_checkout(tmp_path / "owner_hubzoo_ref")
    script = textwrap.dedent(f"""
        import sys
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        import torch
        model = torch.hub.load({str(checkout)!r}, "mnist_cnn", source="local", weights="digits")
        import zoo
        assert zoo.__file__.startswith({str(checkout)!r}), zoo.__file__
        print("loaded", type(model).__name__, model(torch.zeros(1, 1, 28, 28)).shape[1])
    """)
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "loaded MnistCNN 10" in done.stdout


# torch.hub from GitHub, offline: this checkout as GitHub's zipball, and the GitHub API out of requests.
HEAVY = ("transformers", "timm", "sklearn", "matplotlib", "scipy", "SimpleITK", "onnx", "onnxruntime",
         "huggingface_hub", "torchvision", "PIL")


@pytest.fixture
def github(tmp_path, monkeypatch, copy_checkout):
    """torch.hub's GitHub path for "owner/hubzoo:v1" with no network: the zipball is this checkout zipped as
    GitHub zips it (one top folder, "owner-hubzoo-SHA/"), served from a file:// URL, and the GitHub API answers
    403 "rate limit exceeded", as it does past 60 unauthenticated requests an hour from one address. Returns the
    requests the API got (their headers)."""
    import zipfile
    from urllib.error import HTTPError

    checkout = copy_checkout(tmp_path / "src" / "owner-hubzoo-0123abc")
    archive = tmp_path / "v1.zip"
    with zipfile.ZipFile(archive, "w") as zipball:
        zipball.write(checkout, checkout.name)  # the top folder first: torch.hub names the extracted copy after it
        for path in sorted(checkout.rglob("*")):
            zipball.write(path, path.relative_to(checkout.parent).as_posix())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setattr(torch.hub, "_git_archive_link", lambda owner, name, ref: archive.as_uri())
    asked = []

    def rate_limited(request):
        asked.append(dict(request.headers))
        raise HTTPError(request.full_url, 403, "rate limit exceeded", {}, None)

    monkeypatch.setattr(torch.hub, "_read_url", rate_limited)
    return asked


def test_github_rate_limit_and_what_avoids_it(github, monkeypatch, tmp_path):
    """What the README's torch.hub section says: the first load of a ref asks the GitHub API (torch 2.14 turns the
    403 into KeyError: 'Authorization' when GITHUB_TOKEN is unset), GITHUB_TOKEN is sent when set, and
    skip_validation=True downloads the zipball without asking; hubconf.py then lists every model."""
    with pytest.raises(KeyError, match="Authorization"):
        torch.hub.load("owner/hubzoo:v1", "mnist_cnn", trust_repo=True)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_example")
    with pytest.raises(Exception, match="rate limit exceeded"):
        torch.hub.load("owner/hubzoo:v1", "mnist_cnn", trust_repo=True)
    assert github[1]["Authorization"] == "token ghp_example"
    asked = len(github)
    entries = torch.hub.list("owner/hubzoo:v1", trust_repo=True, skip_validation=True, verbose=False)
    assert sorted(entries) == zoo.list_models() and len(github) == asked  # no API request
    extracted = tmp_path / "torch" / "hub" / "owner_hubzoo_v1"
    assert (extracted / "hubconf.py").is_file() and not list((tmp_path / "torch" / "hub").glob("*.zip"))
    model = torch.hub.load("owner/hubzoo:v1", "mnist_cnn", trust_repo=True, weights="digits")  # cached: no API request
    assert model.conv1.out_channels == 32 and len(github) == asked


@pytest.mark.slow
def test_hubconf_from_the_zipball_imports_no_heavy_package(github, tmp_path):
    """In a fresh process, torch.hub imports hubconf.py from the extracted zipball: torch and hubzoo's light
    registrations only, none of the packages a model needs only when it is built."""
    torch.hub.list("owner/hubzoo:v1", trust_repo=True, skip_validation=True, verbose=False)  # download and extract
    script = textwrap.dedent(f"""
        import json, sys, time
        import torch
        start = time.perf_counter()
        entries = torch.hub.list("owner/hubzoo:v1", trust_repo=True, skip_validation=True, verbose=False)
        print(json.dumps({{"entries": len(entries), "heavy": [m for m in {HEAVY!r} if m in sys.modules],
                          "zoo": sys.modules["zoo"].__file__, "seconds": time.perf_counter() - start}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TORCH_HOME": str(tmp_path / "torch")})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["entries"] == len(zoo.list_models()) and found["heavy"] == [], found
    assert found["zoo"] == str(tmp_path / "torch" / "hub" / "owner_hubzoo_v1" / "zoo" / "__init__.py")
