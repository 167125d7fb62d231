"""hubconf.py: entries for every registered model, listed and loaded both ways torch.hub offers
(a local directory, and a cached "owner/repo:ref" checkout), and from a plain checkout with only
the dependencies installed (a subprocess: that is what this test is about)."""

from __future__ import annotations

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
