"""Export for deployment (zoo/export.py, `zoo export`): every registered model exports to ONNX and
torch.export (pt2) with the parity checked, or says in one line why it cannot; bad input leaves no file."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")  # the `export` extra

import torch  # noqa: E402

from zoo.cli import main  # noqa: E402
from zoo.errors import ZooError  # noqa: E402
from zoo.export import ExportError, export_model, not_exportable, read_onnx_metadata  # noqa: E402
from zoo.plugins import build_registry  # noqa: E402

MODELS = build_registry(use_entry_points=False).list_models()
CHECKPOINT_FIXTURES = {"bert_classifier": "minilm_checkpoint", "bart_classifier": "tiny_bart_checkpoint"}
#: Exported in the quick tier: a convolution net, and a model that says why it cannot export; the other models
#: (seconds each: U-Net, VGG, the transformers) in the slow tier.
QUICK_EXPORTS = {"mnist_cnn", "lstm_sentiment"}


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
@pytest.mark.parametrize("name", [n if n in QUICK_EXPORTS else pytest.param(n, marks=pytest.mark.slow) for n in MODELS])
def test_every_model_exports_with_parity_or_says_why_not(name, fmt, tmp_path, request):
    kwargs = request.getfixturevalue(CHECKPOINT_FIXTURES[name]) if name in CHECKPOINT_FIXTURES else {}
    spec = build_registry(use_entry_points=False).model(name)
    out = tmp_path / f"{name}.{fmt}"
    if not_exportable(spec, fmt):
        with pytest.raises(ExportError) as error:
            export_model(name, format=fmt, out=out, model_kwargs=kwargs, optimize=False)
        assert "\n" not in str(error.value) and name in str(error.value)
        assert list(tmp_path.iterdir()) == []
        return
    torch.manual_seed(0)  # the transformer checkpoints have no classification head: a seeded fresh one
    result = export_model(name, format=fmt, out=out, model_kwargs=kwargs, optimize=False)
    assert result.path == out and out.stat().st_size > 0
    assert result.max_abs_diff <= 1e-4
    assert all(shape[0] == 3 for shape in result.checked_on.values())  # checked on another batch size than traced
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    if fmt == "pt2" and name in CHECKPOINT_FIXTURES:
        _assert_text_program_takes_positional_tensors(name, out, kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_efficientnet_lite0_with_imagenet_weights_exports_with_parity(fmt, tmp_path):
    """The zoo-timm plugin's model (not in MODELS, which leaves plugins out) with its pinned ImageNet weights."""
    pytest.importorskip("zoo_timm", reason="plugins/zoo-timm is not installed (`make` installs it with timm)")
    out = tmp_path / f"efficientnet_lite0.imagenet.{fmt}"
    result = export_model("efficientnet_lite0", weights="imagenet", format=fmt, out=out)
    assert result.path == out and out.stat().st_size > 0 and result.max_abs_diff <= 1e-4
    assert all(shape[0] == 3 for shape in result.checked_on.values())  # checked on another batch size than traced
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    if fmt == "onnx":
        meta = read_onnx_metadata(out)
        assert meta["hubzoo.model"] == "efficientnet_lite0" and meta["hubzoo.weights"] == "imagenet"
        assert len(meta["hubzoo.class_names"]) == 1000 and meta["hubzoo.preprocessing"]["crop_pct"] == 0.875


def _assert_text_program_takes_positional_tensors(name, path, kwargs):
    """``module()(input_ids, attention_mask)``: a text model's program takes its tensors in ``forward``'s order."""
    from zoo.api import get_model

    program = torch.export.load(str(path)).module()
    torch.manual_seed(0)
    model = get_model(name, **kwargs).eval()
    batch = model.encode_batch(["A wonderful film, from start to end.", "Dull.", "It was fine, I suppose."])
    with torch.inference_mode():
        torch.testing.assert_close(program(batch["input_ids"], batch["attention_mask"]), model(**batch), atol=1e-4, rtol=0)


def test_dynamic_height_and_width_of_the_unet(tmp_path):
    result = export_model("luna_unet", format="pt2", out=tmp_path / "u.pt2")
    assert result.checked_on["x"][2:] == [80, 80]  # traced on 64x64, checked on another size
    assert result.dynamic == ["x: batch, height, width"]


def test_the_onnx_file_carries_class_names_and_preprocessing(tmp_path):
    export_model("mnist_cnn", weights="digits", format="onnx", out=tmp_path / "m.onnx")  # the optimised path
    meta = read_onnx_metadata(tmp_path / "m.onnx")
    assert meta["hubzoo.model"] == "mnist_cnn" and meta["hubzoo.weights"] == "digits"
    assert meta["hubzoo.class_names"] == [str(d) for d in range(10)]
    assert meta["hubzoo.preprocessing"]["mean"] == [0.1307] and meta["hubzoo.preprocessing"]["size"] == [28, 28]


def test_a_pt2_program_takes_the_image_positionally_as_torchvisions_does(tmp_path):
    """``torch.export.load(f).module()(x)``, the call torch.export's documentation shows, works; its metadata rides along."""
    import json

    from zoo.api import get_model

    export_model("mnist_cnn", weights="digits", format="pt2", out=tmp_path / "m.pt2")
    extra = {"hubzoo.json": ""}
    program = torch.export.load(str(tmp_path / "m.pt2"), extra_files=extra).module()
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(3))  # neither batch it was traced or checked on
    with torch.inference_mode():
        torch.testing.assert_close(program(x), get_model("mnist_cnn.digits").eval()(x), atol=1e-4, rtol=0)
    meta = json.loads(extra["hubzoo.json"])
    assert meta["hubzoo.model"] == "mnist_cnn" and json.loads(meta["hubzoo.class_names"]) == [str(d) for d in range(10)]


def test_a_file_that_differs_beyond_the_tolerance_is_removed(tmp_path):
    with pytest.raises(ExportError, match="differs from PyTorch by up to .*tolerance 0"):
        export_model("mnist_cnn", weights="digits", format="onnx", out=tmp_path / "m.onnx", atol=0.0, optimize=False)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_prints_the_difference(capsys, tmp_path):
    assert main(["export", "mnist_mlp", "--weights", "digits", "--format", "pt2", "--out", str(tmp_path / "m.pt2")]) == 0
    out = capsys.readouterr().out
    assert "largest absolute difference" in out and str(tmp_path / "m.pt2") in out


def test_random_weights_are_said(capsys, tmp_path):
    assert main(["export", "mnist_mlp", "--format", "pt2", "--out", str(tmp_path / "m.pt2")]) == 0
    assert "random initialisation" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--format", "tflite"], "invalid choice: 'tflite'"),
    (["--format", "onnx", "--out", "{tmp}/missing/m.onnx"], "does not exist"),
    (["--format", "onnx", "--out", "{tmp}"], "is a folder"),
    (["--format", "onnx", "--out", "{tmp}/m.pt2"], "must end in .onnx"),
    (["--format", "onnx", "--weights", "luna_classifier.synthetic"], "has no weights"),
    (["--format", "onnx", "--weights", "{luna}"], "was saved for model 'luna_classifier'"),
])
def test_bad_exports_are_one_line_and_write_nothing(capsys, tmp_path, argv, message):
    from zoo.weights import read_manifest, shipped_manifest_path

    luna = read_manifest(shipped_manifest_path())["luna_classifier.synthetic"].path
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{luna}", str(luna)) for a in argv]
    before = set(tmp_path.rglob("*"))
    code = main(["export", "mnist_cnn", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("zoo: error: ") and message in err, err
    assert set(tmp_path.rglob("*")) == before


def test_without_the_extra_the_message_names_it(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ZooError, match=r"pip install 'hubzoo\[export\]'"):
        export_model("mnist_mlp", format="onnx", out=tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_publish_with_onnx_adds_the_file_and_names_it_in_the_card(tmp_path):
    from zoo.hub import stage

    out = stage("mnist_cnn", "digits", tmp_path / "staged", repo_id="me/mnist-cnn", with_onnx=True)
    assert (out / "model.onnx").is_file() and read_onnx_metadata(out / "model.onnx")["hubzoo.weights"] == "digits"
    card = (out / "README.md").read_text()
    assert "## ONNX" in card and "model.onnx" in card and "largest absolute difference" in card
    import json

    assert json.loads((out / "config.json").read_text())["zoo"]["onnx"]["file"] == "model.onnx"
