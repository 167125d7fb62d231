"""``zoo pin``, ``export``, ``verify``, ``publish``, ``pull``, ``bundle``, ``unbundle`` (zoo/cli/weights.py);
export, publish and the bundles have their own test modules."""

from __future__ import annotations

import shutil

from zoo.cli.options import EXIT_CHECK_FAILED


def test_verify_catches_a_corrupted_shipped_file_with_exit_3(cli, tmp_path, monkeypatch, repo):
    copy = tmp_path / "weights"
    shutil.copytree(repo / "weights", copy)
    code, out, _ = cli("verify")
    assert code == 0 and "ok      mnist_cnn.digits" in out
    data = (copy / "mnist_cnn.digits.safetensors").read_bytes()
    (copy / "mnist_cnn.digits.safetensors").write_bytes(data[:-100])
    monkeypatch.setattr("zoo.families.mnist.shipped_manifest_path", lambda: copy / "manifest.json")
    monkeypatch.setattr("zoo.plugins._REGISTRY", None)
    code, out, _ = cli("verify", "mnist_cnn")
    assert code == EXIT_CHECK_FAILED == 3  # a check found a problem, not a bug (1) nor bad input (2)
    assert "FAILED  mnist_cnn.digits" in out and "corrupt, truncated or was replaced" in out
    assert "ok      mnist_cnn.fashion" in out  # the other entries are still checked


def test_verify_of_an_unknown_model_is_a_user_error(cli):
    code, _, err = cli("verify", "mnist_cnnn")
    assert code == 2 and "unknown model 'mnist_cnnn'" in err
