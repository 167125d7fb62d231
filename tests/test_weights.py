"""Weights: resolving weights=..., pinned sha256 at every load, refusing pickles, architecture checks,
atomic writes, the verified download into the cache, and the shipped manifest's schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.errors import WeightsError
from zoo.files import sha256_file
from zoo.plugins import get_registry
from zoo.state_dicts import save_state_dict
from zoo.weights import (
    check_assets,
    ENTRY_KEYS,
    REQUIRED_KEYS,
    HfWeightsURI,
    WeightsSpec,
    parse_hf_uri,
    read_manifest,
    shipped_manifest_path,
    write_manifest_entry,
)


def _spec_for(path: Path, model, **overrides) -> WeightsSpec:
    fields = dict(arch="mnist_cnn", tag="unit", file=path.name, sha256=sha256_file(path),
                  num_params=sum(p.numel() for p in model.parameters()), dataset="digits",
                  metrics={"split": "test", "accuracy": 0.5}, training={"command": "zoo train mnist_cnn --data digits"},
                  model_kwargs={"n_feature": 4}, base_dir=str(path.parent))
    return WeightsSpec(**{**fields, **overrides})


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = zoo.get_model("mnist_cnn", n_feature=4)
    path = tmp_path / "mnist_cnn.unit.safetensors"
    save_state_dict(model, path, metadata={"arch": "mnist_cnn", "model_kwargs": json.dumps({"n_feature": 4})})
    return model, path


def _build(weights, **kwargs):
    from zoo.plugins import get_registry
    from zoo.builder import build_model

    return build_model(get_registry().model("mnist_cnn"), weights=weights, **kwargs)


def test_registered_weights_round_trip_with_their_model_kwargs(saved):
    model, path = saved
    loaded = _build(_spec_for(path, model))
    assert loaded.conv1.out_channels == 4
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_local_file_brings_its_architecture_arguments(saved):
    model, path = saved
    loaded = zoo.get_model("mnist_cnn", weights=str(path))
    assert torch.equal(loaded.fc2.weight, model.fc2.weight)
    with pytest.raises(WeightsError, match="trained with n_feature=4, but n_feature=6 was passed"):
        zoo.get_model("mnist_cnn", weights=str(path), n_feature=6)
    with pytest.raises(WeightsError, match="saved for model 'mnist_cnn', not 'mnist_mlp'"):
        zoo.get_model("mnist_mlp", weights=str(path))


def test_wrong_sha256_is_refused(saved):
    model, path = saved
    with pytest.raises(WeightsError, match="sha256 .* but the manifest pins 0000"):
        _build(_spec_for(path, model, sha256="0" * 64))


def test_truncated_file_is_a_clear_error(saved):
    model, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="manifest pins"):
        _build(_spec_for(path, model, sha256=__import__("hashlib").sha256(data).hexdigest()))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        zoo.get_model("mnist_cnn", weights=str(path))


def test_weights_for_another_architecture_are_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(WeightsError, match="do not fit MnistCNN.*missing keys.*unexpected keys"):
        zoo.get_model("mnist_cnn", weights=str(path))
    wide = tmp_path / "wide.safetensors"
    save_file(zoo.get_model("mnist_cnn", n_feature=8).state_dict(), str(wide))  # no metadata: shapes decide
    with pytest.raises(WeightsError, match="shape mismatch"):
        zoo.get_model("mnist_cnn", weights=str(wide))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_pickle_checkpoints_need_an_explicit_opt_in(tmp_path, suffix):
    model = zoo.get_model("mnist_cnn")
    path = tmp_path / f"model{suffix}"
    torch.save(model.state_dict(), path)
    with pytest.raises(WeightsError, match="refusing to load pickle checkpoint"):
        zoo.get_model("mnist_cnn", weights=str(path))
    loaded = zoo.get_model("mnist_cnn", weights=str(path), allow_pickle=True)
    assert torch.equal(loaded.conv1.weight, model.conv1.weight)


def test_unknown_tags_list_the_available_weights_and_the_training_command():
    with pytest.raises(WeightsError, match=r"no weights 'imagenet'\. Available weights: digits \(trained on digits\).*zoo train mnist_cnn"):
        zoo.get_model("mnist_cnn", weights="imagenet")
    with pytest.raises(WeightsError, match="does not exist"):
        zoo.get_model("mnist_cnn", weights="missing/file.safetensors")
    with pytest.raises(WeightsError, match="unknown weights scheme"):
        zoo.get_model("mnist_cnn", weights="s3:bucket")


def test_hf_uris_are_parsed_and_say_what_is_missing():
    assert parse_hf_uri("hf://org/repo/sub/model.safetensors@v1.0") == HfWeightsURI("org/repo", "sub/model.safetensors", "v1.0")
    assert parse_hf_uri("hf://org/repo/model.safetensors").revision is None
    with pytest.raises(WeightsError, match="expected hf://ORG/REPO/FILE.safetensors@REVISION"):
        parse_hf_uri("hf://org/model.pt")
    assert parse_hf_uri(f"hf://org/repo/m.safetensors@v2#sha256={'a' * 64}").sha256 == "a" * 64
    with pytest.raises(WeightsError, match="org/repo@abc123: it is not in the Hub cache"):
        zoo.get_model("mnist_cnn", weights="hf://org/repo/model.safetensors@abc123")


def test_manifest_entries_are_written_atomically_and_read_back(saved, tmp_path):
    model, path = saved
    manifest = tmp_path / "manifest.json"
    write_manifest_entry(manifest, _spec_for(path, model, default=True))
    write_manifest_entry(manifest, _spec_for(path, model, tag="second", default=True))
    specs = read_manifest(manifest)
    assert set(specs) == {"mnist_cnn.unit", "mnist_cnn.second"}
    assert [s.tag for s in specs.values() if s.default] == ["second"]  # one default per arch
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    manifest.write_text('{"x.y": {"arch": "x"}}')
    with pytest.raises(WeightsError, match="entry 'x.y' lacks"):
        read_manifest(manifest)


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e.update(colour="red"), "unknown keys \\['colour'\\]"),
    (lambda e: e.pop("sha256"), "lacks \\['sha256'\\]"),
    (lambda e: e.update(tag="other"), "must be named arch.tag"),
])
def test_the_manifest_schema_is_closed(saved, tmp_path, mutate, message):
    model, path = saved
    entry = _spec_for(path, model).to_entry()
    mutate(entry)
    (tmp_path / "manifest.json").write_text(json.dumps({"mnist_cnn.unit": entry}))
    with pytest.raises(WeightsError, match=message):
        read_manifest(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(WeightsError, match="must be a JSON object"):
        read_manifest(tmp_path / "manifest.json")


#: The evaluator's numbers every shipped entry of a task must carry (torchvision's test_extended_models idea).
REQUIRED_METRICS = {
    "classification": {"accuracy", "precision", "recall", "f1"},
    "text-classification": {"accuracy", "precision", "recall", "f1"},
    "segmentation": {"dice", "miou"},
}


def test_shipped_manifest_matches_its_files_and_models():
    """Like torchvision's test_extended_models: hash, parameter count and metrics block per entry."""
    raw = json.loads(shipped_manifest_path().read_text())
    specs = read_manifest(shipped_manifest_path())  # rejects unknown and missing keys
    assert specs, "the project ships at least the digits weights"
    for name, spec in specs.items():
        assert set(raw[name]) <= ENTRY_KEYS and set(REQUIRED_KEYS) <= set(raw[name]), name
        if spec.url and not spec.path.is_file():  # published elsewhere (vgg16.imagenet): pinned by URL and sha256
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256) and spec.url.startswith("https://"), name
            model = zoo.get_model(spec.arch, **spec.model_kwargs)  # the architecture, without downloading
            assert sum(p.numel() for p in model.parameters()) == spec.num_params, name
            assert spec.metrics == {"split": None} and "not measured here" in spec.training["source"], name
            continue
        assert sha256_file(spec.path) == spec.sha256, name
        model = zoo.get_model(spec.arch, weights=spec.tag)
        assert sum(p.numel() for p in model.parameters()) == spec.num_params, name
        task = get_registry().model(spec.arch).task
        numbers = {k for k, v in spec.metrics.items() if isinstance(v, (int, float)) and 0 <= v <= 1}
        assert REQUIRED_METRICS[task] <= numbers, f"{name}: {task} weights need {sorted(REQUIRED_METRICS[task])}"
        assert spec.metrics["split"] in ("test", "val"), name
        assert spec.training["command"].startswith(f"zoo train {spec.arch} --data {spec.dataset}"), name
        # No entry may claim a data set it was not trained on: the tag's first word names the data, as the
        # data set's name or its first word ("fashion" for fashion_mnist, "fashion_wide" a second one);
        # "synthetic" is the generated LUNA16-like set of the luna data sets (real LUNA16 weights would be tagged otherwise).
        # sentiment_snippets weights are tagged with the domain they were trained on (-d domain=..., default movies).
        data_word = spec.tag.split("_")[0]
        if spec.tag == "synthetic":
            assert spec.dataset.startswith("luna"), name
        elif spec.dataset == "sentiment_snippets":
            domain = re.search(r"-d domain=(\w+)", spec.training["command"])
            assert spec.tag == (domain.group(1) if domain else "movies"), name
        else:
            assert data_word in (spec.dataset, spec.dataset.split("_")[0]), name
        assert spec.path.stat().st_size < 10_000_000, name  # a fine-tuned transformer ships as a difference (base)
        if spec.assets:  # pinned side files (the LSTM's tokenizer) match their hashes
            check_assets(spec)
            files = sorted(f.relative_to(spec.assets_dir).as_posix() for f in spec.assets_dir.rglob("*") if f.is_file())
            assert files == sorted(spec.assets), name


def test_pretrained_uses_the_shipped_digits_weights():
    model = zoo.get_model("mnist_cnn", pretrained=True)
    same = zoo.get_model("mnist_cnn.digits")
    assert torch.equal(model.conv1.weight, same.conv1.weight)


def test_only_zoo_weights_reads_manifests_metadata_and_reports():
    """The structure goal of the typed weights object: what a weights file says about itself is read in one module.
    Outside ``zoo/weights.py`` no code opens safetensors metadata (``safe_open``, ``.metadata()``) or names a
    manifest or a run report by its file name (they use ``zoo.weights``' readers and its ``MANIFEST_NAME`` and
    ``REPORT_NAME``)."""
    import ast

    package = Path(zoo.__file__).parent
    # zoo luna validate writes its own FROC report.json into --out: a LUNA16 validation report, not a run's.
    allowed = {("luna/commands.py", "report.json")}
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == "weights.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("report.json", "manifest.json") and (rel, node.value) not in allowed:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.Name) and node.id == "safe_open" or isinstance(node, ast.alias) and node.name == "safe_open":
                found.append(f"{rel}: safe_open")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "metadata" and not node.args:
                found.append(f"{rel}:{node.lineno} .metadata()")
    assert found == []
