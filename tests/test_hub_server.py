"""Publishing and pulling through the real huggingface_hub client, over HTTP, against the small Hub-compatible
server in tests/hub_server.py: round trips in fresh homes and caches, then the faults (the Hub failing mid-commit,
rate limits, a refused token, someone else's repository, a missing revision, a download cut short or corrupt).

Each test starts its own server on 127.0.0.1 and points the client at it; the client's backoff waits are recorded
instead of slept (``hub.waits``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.errors import WeightsError
from zoo.files import sha256_file

from .hub_server import LFS_SIZE, HubServer

ALICE, BOB = "hf_alice_0123456789secret", "hf_bob_9876543210secret"
# huggingface_hub 2.4.0 uploads an LFS file with httpx2's deprecated data=<file>; outside pytest Python hides the warning
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A Hub for alice (who may also write in the zoo-org organisation) and bob, and the client pointed at it as alice."""
    import huggingface_hub.constants as constants
    from huggingface_hub import file_download
    from huggingface_hub.utils import _http

    server = HubServer(tmp_path / "hub-state", {ALICE: "alice", BOB: "bob"}, orgs={"alice": {"zoo-org"}}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", ALICE)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    # huggingface_hub read these when it was first imported, before this test's environment
    read_at_import = {"ENDPOINT": server.url, "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
                      "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_XET": True, "HF_TOKEN_PATH": str(tmp_path / "hf-token"),
                      "AGENT_HARNESSES_PATH": str(tmp_path / "agent-harnesses.json")}
    for name, value in read_at_import.items():
        monkeypatch.setattr(constants, name, value)
    server.waits = []
    clock = SimpleNamespace(sleep=server.waits.append)  # the client's retry waits, recorded instead of slept
    monkeypatch.setattr(_http, "time", clock)
    monkeypatch.setattr(file_download, "time", clock)
    fresh_homes(tmp_path / "publisher", monkeypatch)
    yield server
    server.stop()


def fresh_homes(folder: Path, monkeypatch) -> Path:
    """A new ZOO_HOME and Hugging Face cache, as on another machine."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("ZOO_HOME", str(folder / "zoo"))
    monkeypatch.setenv("HF_HOME", str(folder / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder / "hf" / "hub"))
    return folder / "hf" / "hub"


def zoo_cli(capsys, *argv) -> tuple[int, str, list[str]]:
    """Run ``zoo ARGV`` in this process: the exit status, stdout and the lines of stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def publish(capsys, repo_id: str, *extra, name: str = "mnist_cnn", weights: str = "digits") -> tuple[int, str, list[str]]:
    return zoo_cli(capsys, "publish", name, "--weights", weights, "--repo-id", repo_id, *extra)


def head(repo_id: str, token: str = ALICE) -> str:
    from huggingface_hub import HfApi

    return HfApi(token=token).list_repo_refs(repo_id).branches[0].target_commit


# ------------------------------------------------------------------------------------------ round trips


def test_publish_then_pull_load_and_read_the_card_in_fresh_homes(hub, capsys, tmp_path, monkeypatch, repo):
    from huggingface_hub import HfApi, ModelCard, PyTorchModelHubMixin

    from zoo.models.mnist import MnistCNN

    code, out, err = publish(capsys, "alice/mnist-cnn")
    assert code == 0 and out.startswith(f"published mnist_cnn: {hub.url}/alice/mnist-cnn/commit/"), (out, err)
    rev = head("alice/mnist-cnn")
    api = HfApi()
    assert sorted(api.list_repo_files("alice/mnist-cnn", revision=rev)) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    tree = {f.path: f for f in api.list_repo_tree("alice/mnist-cnn", revision=rev)}
    shipped = zoo.get_weights("mnist_cnn", "digits").sha256
    assert tree["model.safetensors"].lfs.sha256 == shipped and tree["config.json"].lfs is None  # LFS, and inline
    assert len(hub.requests("PUT", "/lfs-upload/")) == 1 and len(hub.requests("POST", "/commit/main")) == 1

    cache = fresh_homes(tmp_path / "user", monkeypatch)
    uri = f"hf://alice/mnist-cnn/model.safetensors@{rev}"
    code, out, err = zoo_cli(capsys, "pull", "mnist_cnn", "--weights", uri)
    assert code == 0 and out.startswith(f"ok {uri}") and not err, err
    model = zoo.get_model("mnist_cnn", weights=f"{uri}#sha256={shipped}")
    reference = zoo.get_model("mnist_cnn.digits")
    assert torch.equal(model.conv1.weight, reference.conv1.weight) and model.conv1.out_channels == 32
    via_hub = torch.hub.load(str(repo), "mnist_cnn", source="local", weights=uri)
    assert torch.equal(via_hub.fc2.bias, reference.fc2.bias)

    class Loader(MnistCNN, PyTorchModelHubMixin):  # someone who never heard of hubzoo
        pass

    assert torch.equal(Loader.from_pretrained("alice/mnist-cnn", revision=rev).fc2.weight, reference.fc2.weight)
    card = ModelCard.load("alice/mnist-cnn")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert card.data.library_name == "hubzoo" and results["accuracy"] == zoo.get_weights("mnist_cnn", "digits").metrics["accuracy"]
    assert card.data.eval_results[0].dataset_name == "digits" and 'weights="hf://alice/mnist-cnn/model.safetensors@REVISION"' in card.text

    # Offline afterwards, and the server gone: everything above comes from the cache
    hub.stop()
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert torch.equal(zoo.get_model("mnist_cnn", weights=uri).conv1.weight, reference.conv1.weight)
    assert torch.equal(zoo.get_model("mnist_cnn", weights="hf://alice/mnist-cnn/model.safetensors@main").conv1.bias, reference.conv1.bias)
    assert zoo_cli(capsys, "pull", "mnist_cnn", "--weights", uri)[0] == 0
    assert not list(cache.rglob("*.incomplete"))


def test_pinned_weights_already_cached_load_with_no_request_even_at_a_branch(hub, capsys, tmp_path, monkeypatch):
    """Offline-first: ``hf://...@main#sha256=...`` cached once loads again without a single request, HF_HUB_OFFLINE
    unset (the client would ask whether main moved: where the network hangs rather than refuses, that question
    waits out its timeouts and retries, about 25 s). Unpinned, or pinned to other bytes, the branch is still asked."""
    publish(capsys, "alice/pinned")
    shipped = zoo.get_weights("mnist_cnn", "digits").sha256
    fresh_homes(tmp_path / "user", monkeypatch)
    pinned = f"hf://alice/pinned/model.safetensors@main#sha256={shipped}"
    reference = zoo.get_model("mnist_cnn", weights=pinned).fc2.bias
    served = len(hub.log)
    assert torch.equal(zoo.get_model("mnist_cnn", weights=pinned).fc2.bias, reference)
    assert len(hub.log) == served  # not even a HEAD
    assert torch.equal(zoo.get_model("mnist_cnn", weights="hf://alice/pinned/model.safetensors@main").fc2.bias, reference)
    assert len(hub.requests("HEAD", "/alice/pinned/resolve/main/model.safetensors")) == 2  # the first download's, and this
    with pytest.raises(zoo.errors.ZooError, match="expected 0000"):
        zoo.get_model("mnist_cnn", weights=pinned.replace(shipped, "0" * 64))


def test_a_private_repository_needs_the_token(hub, capsys, tmp_path, monkeypatch):
    assert publish(capsys, "zoo-org/private-cnn", "--private", "--no-verify")[0] == 0
    fresh_homes(tmp_path / "user", monkeypatch)
    monkeypatch.delenv("HF_TOKEN")
    code, _, err = zoo_cli(capsys, "pull", "mnist_cnn", "--weights", "hf://zoo-org/private-cnn/model.safetensors@main")
    assert code == 2 and len(err) == 1 and "does not exist on the Hub (or is private: set HF_TOKEN)" in err[0], err
    monkeypatch.setenv("HF_TOKEN", ALICE)
    assert zoo_cli(capsys, "pull", "mnist_cnn", "--weights", "hf://zoo-org/private-cnn/model.safetensors@main")[0] == 0


@pytest.mark.slow
def test_weights_above_the_inline_limit_go_through_lfs_whole(hub, capsys, tmp_path, monkeypatch):
    """EfficientNet-Lite0's Fashion-MNIST weights are stored as the difference to an installed ImageNet checkpoint:
    the Hub gets every tensor (over 10 MiB, so LFS by size too), and the folder loads without that checkpoint."""
    pytest.importorskip("zoo_timm")
    import huggingface_hub
    from safetensors import safe_open

    code, out, err = publish(capsys, "alice/effnet", "--no-verify", name="efficientnet_lite0", weights="fashion")
    assert code == 0, err
    rev = head("alice/effnet")
    fresh_homes(tmp_path / "user", monkeypatch)
    path = zoo.get_weights("efficientnet_lite0", f"hf://alice/effnet/model.safetensors@{rev}").path
    assert path.stat().st_size > LFS_SIZE and len(hub.requests("PUT", "/lfs-upload/")) == 1
    with safe_open(str(path), framework="pt") as f:
        assert "base" not in f.metadata() and len(list(f.keys())) > 100
    config = json.loads(Path(huggingface_hub.hf_hub_download("alice/effnet", "config.json", revision=rev)).read_text())
    assert config["zoo"]["sha256"] == sha256_file(path) and config["in_chans"] == 1 and "checkpoint" not in config
    pulled = zoo.get_model("efficientnet_lite0", weights=f"hf://alice/effnet/model.safetensors@{rev}")
    registered = zoo.get_model("efficientnet_lite0.fashion")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(pulled.eval()(x), registered.eval()(x))


@pytest.mark.slow
def test_publish_with_onnx_and_pull_in_a_fresh_process(hub, capsys, tmp_path):
    """``--with-onnx`` adds model.onnx (LFS by .gitattributes); a new process finds the server through HF_ENDPOINT alone."""
    pytest.importorskip("onnxruntime")
    import huggingface_hub

    assert publish(capsys, "alice/cnn-onnx", "--with-onnx", "--no-verify")[0] == 0
    rev = head("alice/cnn-onnx")
    onnx = Path(huggingface_hub.hf_hub_download("alice/cnn-onnx", "model.onnx", revision=rev))
    config = json.loads(Path(huggingface_hub.hf_hub_download("alice/cnn-onnx", "config.json", revision=rev)).read_text())
    card = Path(huggingface_hub.hf_hub_download("alice/cnn-onnx", "README.md", revision=rev)).read_text()
    assert sha256_file(onnx) == config["zoo"]["onnx"]["sha256"] and "## ONNX" in card
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "other" / "hf"), ZOO_HOME=str(tmp_path / "other" / "zoo"))
    done = subprocess.run([sys.executable, "-m", "zoo", "pull", "mnist_cnn", "--weights", f"hf://alice/cnn-onnx/model.safetensors@{rev}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and done.stdout.startswith("ok hf://alice/cnn-onnx/"), done.stderr
    assert (tmp_path / "other" / "hf" / "hub" / "models--alice--cnn-onnx").is_dir()


# ------------------------------------------------------------------------------------------------ faults


def test_publish_rides_out_what_the_client_retries(hub, capsys):
    """500 on the pre-upload call, 429 with Retry-After on the LFS batch call, 503 on the upload: the client
    retries each (waiting as told), and the publish ends as one commit."""
    hub.fail("POST", "/preupload/", 500)
    hub.fail("POST", r"\.git/info/lfs/objects/batch", 429, **{"Retry-After": "3"})
    hub.fail("PUT", "/lfs-upload/", 503)
    code, out, err = publish(capsys, "alice/retried", "--no-verify")
    assert code == 0 and out.startswith("published mnist_cnn:"), err
    assert [s for _, _, s in hub.requests("POST", "/preupload/")] == [500, 200]
    assert [s for _, _, s in hub.requests("PUT", "/lfs-upload/")] == [503, 200]
    assert 4 in hub.waits  # Retry-After: 3, plus the client's second
    assert len(hub.requests("POST", "/commit/")) == 1


def test_a_failed_commit_publishes_nothing_and_the_same_command_finishes_it(hub, capsys):
    """The client does not retry the commit call itself (a retry could commit twice): a 500 there ends in one line
    saying nothing was published, and running the command again finishes without uploading the weights twice."""
    hub.fail("POST", "/commit/", 500)
    code, out, err = publish(capsys, "alice/half", "--no-verify")
    assert code == 2 and not out and len(err) == 1, err
    assert err[0].startswith("zoo: error: nothing was published to alice/half:") and "500" in err[0]
    assert "the repository exists without this commit: run the same command again" in err[0]
    from huggingface_hub import HfApi

    assert HfApi().list_repo_files("alice/half") == [".gitattributes"]  # the repository exists, with no commit of ours
    code, out, err = publish(capsys, "alice/half", "--no-verify")
    assert code == 0 and "model.safetensors" in HfApi().list_repo_files("alice/half"), err
    assert len(hub.requests("PUT", "/lfs-upload/")) == 1  # the weights went up once


def test_a_rate_limit_that_outlasts_the_retries_is_one_line(hub, capsys):
    hub.fail("POST", "/preupload/", 429, times=None, **{"Retry-After": "1"})
    code, out, err = publish(capsys, "alice/limited", "--no-verify")
    assert code == 2 and len(err) == 1 and "nothing was published to alice/limited" in err[0], err
    assert "429" in err[0] and "rate limit" in err[0]
    assert len(hub.requests("POST", "/preupload/")) == 6 and len(hub.waits) == 5  # the client's five retries


def test_a_refused_token_is_one_line_that_never_shows_it(hub, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token_42")
    code, out, err = publish(capsys, "alice/x", "--no-verify")
    assert code == 2 and len(err) == 1 and "refused the token" in err[0] and "nothing was published" in err[0], err
    assert "hf_not_a_real_token_42" not in out + "\n".join(err)
    code, out, err = zoo_cli(capsys, "pull", "mnist_cnn", "--weights", "hf://alice/x/model.safetensors@main")
    assert code == 2 and len(err) == 1 and "refused the token" in err[0] and "hf_not_a_real_token_42" not in err[0], err


def test_someone_elses_repository_is_refused_and_left_alone(hub, capsys):
    from huggingface_hub import HfApi

    HfApi(token=BOB).create_repo("bob/taken")
    before = head("bob/taken", BOB)
    code, out, err = publish(capsys, "bob/taken", "--no-verify")
    assert code == 2 and len(err) == 1 and "nothing was published to bob/taken" in err[0] and "403" in err[0], err
    assert head("bob/taken", BOB) == before
    code, out, err = publish(capsys, "carol/new", "--no-verify")  # a namespace alice may not create in
    assert code == 2 and len(err) == 1 and "nothing was published to carol/new" in err[0] and "403" in err[0], err


def test_a_revision_that_does_not_exist(hub, capsys):
    assert publish(capsys, "alice/revs", "--no-verify")[0] == 0
    code, out, err = zoo_cli(capsys, "pull", "mnist_cnn", "--weights", "hf://alice/revs/model.safetensors@v9")
    assert code == 2 and err == ["zoo: error: revision 'v9' does not exist in alice/revs"], err
    with pytest.raises(WeightsError, match="has no file other.safetensors"):
        zoo.get_model("mnist_cnn", weights="hf://alice/revs/other.safetensors@main")


def test_a_download_cut_short_leaves_nothing_in_the_cache(hub, capsys, tmp_path, monkeypatch):
    assert publish(capsys, "alice/cut", "--no-verify")[0] == 0
    cache = fresh_homes(tmp_path / "user", monkeypatch)
    uri = "hf://alice/cut/model.safetensors@main"
    hub.break_downloads("cut")
    code, out, err = zoo_cli(capsys, "pull", "mnist_cnn", "--weights", uri)
    assert code == 2 and len(err) == 1 and "nothing was kept" in err[0], err
    assert not [p for p in (cache / "models--alice--cut" / "blobs").iterdir()]  # no partial file, no blob
    hub.faults.clear()
    hub.break_downloads("cut", times=1)  # once: the client downloads it again (resuming with Range past 10 MB)
    assert zoo_cli(capsys, "pull", "mnist_cnn", "--weights", uri)[0] == 0
    assert len(hub.requests("GET", "/lfs-storage/")) == 6 + 2  # the client's five retries of the cut body, then two


def test_a_wrong_body_is_caught_by_the_hash_and_not_kept(hub, capsys, tmp_path, monkeypatch):
    assert publish(capsys, "alice/flip", "--no-verify")[0] == 0
    rev = head("alice/flip")
    cache = fresh_homes(tmp_path / "user", monkeypatch)
    hub.break_downloads("flip", times=1)
    uri = f"hf://alice/flip/model.safetensors@{rev}"
    with pytest.raises(WeightsError, match="is corrupt .* removed from the Hub cache"):
        zoo.get_model("mnist_cnn", weights=uri)
    assert not list((cache / "models--alice--flip" / "blobs").iterdir())
    assert torch.equal(zoo.get_model("mnist_cnn", weights=uri).conv1.weight, zoo.get_model("mnist_cnn.digits").conv1.weight)
