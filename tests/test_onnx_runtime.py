"""The ONNX Runtime backend of `zoo.predict.Predictor` (`zoo.onnx_runtime`, `zoo predict --backend onnx`): the export
cached by the weights' hash and reused, a damaged cached file exported again, the same labels and probabilities
as eager PyTorch (images; MiniLM BERT with windows for a long text), and the models it cannot run as one line."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.predict import Predictor

SENTENCES = ["A gorgeous, witty, seductive movie.", "Boring and far too long.",
             "The plot is nothing but tired cliches, and the acting is awful.",
             " ".join(["An ambitious, sprawling, often exhausting epic about memory and loss."] * 6)]  # > 64 tokens: windows


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """Four test digits as PNG files."""
    digits = zoo.get_dataset("digits", split="test")
    folder = tmp_path_factory.mktemp("digits")
    for i in range(4):
        Image.fromarray(digits.images[i][0].numpy()).save(folder / f"d{i}.png")
    return sorted(folder.glob("*.png"))


def fake_export(name, *, weights, format, out, model_kwargs):
    """A stand-in for ``export_model`` that writes a small ONNX graph at once: logits ``[N, 10]`` = flatten(x) @ 0 + 0..9."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "w", "b"], ["logits"])],
        "fake", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor("w", TensorProto.FLOAT, [784, 10], [0.0] * 7840),
         helper.make_tensor("b", TensorProto.FLOAT, [10], [float(i) for i in range(10)])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(out))


def test_the_export_is_cached_by_the_weights_hash_and_a_damaged_file_is_exported_again(capsys, monkeypatch, digit_files):
    import zoo.export
    from zoo.download import cache_dir

    calls = []
    monkeypatch.setattr(zoo.export, "export_model", lambda *a, **k: calls.append(a) or fake_export(*a, **k))
    predictor = Predictor.from_name("mnist_cnn", "digits", backend="onnx")
    assert predictor.predict([digit_files[0]]) == [("9", pytest.approx(float(torch.softmax(torch.arange(10.0), 0)[9])))]
    cached = cache_dir() / "onnx" / f"{zoo.get_weights('mnist_cnn.digits').sha256}-{zoo.__version__}.onnx"
    assert len(calls) == 1 and cached.is_file()
    Predictor.from_name("mnist_cnn", "digits", backend="onnx")
    assert len(calls) == 1  # reused
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])  # cut short, as by a full disk
    assert Predictor.from_name("mnist_cnn", "digits", backend="onnx").predict([digit_files[0]])[0][0] == "9"
    assert len(calls) == 2
    assert sorted(p.name for p in cached.parent.glob("*.onnx*")) == [cached.name, cached.name + ".sha256"]
    code, out, err = run(capsys, "predict", "mnist_cnn", "--weights", "digits", digit_files[0], "--backend", "onnx", "--json")
    assert code == 0 and json.loads(out)[0]["label"] == "9" and len(calls) == 2  # the CLI runs the cached graph


def test_windows_are_averaged_in_numpy_as_the_transformer_averages_them():
    from types import SimpleNamespace

    from zoo.models.transformer import TransformerClassifier
    from zoo.onnx_runtime import average_windows

    logits, text_index = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 0, 0, 1, 2, 2])
    fake = SimpleNamespace(hf=lambda input_ids, attention_mask: SimpleNamespace(logits=logits))
    ids = torch.ones(6, 4, dtype=torch.int64)
    expected = TransformerClassifier.forward(fake, ids, ids, text_index)
    torch.testing.assert_close(torch.from_numpy(average_windows(logits.numpy(), text_index.numpy())), expected)


@pytest.mark.slow
def test_the_onnx_backends_label_images_as_torch_does(digit_files):
    expected = Predictor.from_name("mnist_cnn", "digits").predict_proba(digit_files)
    onnx = Predictor.from_name("mnist_cnn", "digits", backend="onnx")
    torch.testing.assert_close(onnx.predict_proba(digit_files), expected, atol=1e-4, rtol=0)
    int8 = Predictor.from_name("mnist_cnn", "digits", backend="onnx-int8")  # quantised from the cached fp32 file
    assert int8.predict_proba(digit_files).argmax(1).tolist() == expected.argmax(1).tolist()
    checked = Predictor.from_name("mnist_cnn", "digits", backend="onnx-int8-checked")  # both files cached: nothing made
    assert checked.predict_proba(digit_files).argmax(1).tolist() == expected.argmax(1).tolist()


@pytest.mark.parametrize("argv, message", [
    (["lstm_sentiment", "--backend", "onnx", "Fine."], "the ONNX backends are for models that `zoo export` can export to "
                                                       "ONNX; lstm_sentiment cannot: it packs each text"),
    (["luna_classifier", "--weights", "synthetic", "--backend", "onnx", "x.mhd"], "through its own pipeline"),
    (["mnist_cnn", "--weights", "digits", "--backend", "tf", "x.png"], "invalid choice: 'tf'"),
])
def test_a_model_the_onnx_backend_cannot_run_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "predict", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.fixture(scope="module")
def bert_file(tmp_path_factory, minilm_checkpoint):
    """A hubzoo weights file of ``bert_classifier`` on MiniLM (``max_length=64``, sliding windows for longer texts)
    with its seeded head scaled up, so that its labels are far from ties."""
    from zoo.state_dicts import save_state_dict

    kwargs = {**minilm_checkpoint, "max_length": 64, "long_text": "sliding"}
    torch.manual_seed(0)
    model = zoo.get_model("bert_classifier", **kwargs)
    with torch.no_grad():
        model.hf.classifier.weight.mul_(40)
    folder = tmp_path_factory.mktemp("bert_run")
    save_state_dict(model, folder / "model.safetensors", metadata={
        "arch": "bert_classifier", "model_kwargs": json.dumps(kwargs), "class_names": '["negative", "positive"]'})
    model.save_assets(folder)
    return folder / "model.safetensors"


@pytest.fixture(scope="module")
def bert_home(tmp_path_factory):
    """One ``$ZOO_HOME`` for this module's BERT tests, so that MiniLM is exported once (about 15 s) for all of them."""
    return tmp_path_factory.mktemp("bert_onnx_home")


@pytest.mark.slow
def test_the_onnx_backend_gives_bert_the_torch_labels_and_probabilities_and_reuses_its_export(monkeypatch, bert_file, bert_home):
    monkeypatch.setenv("ZOO_HOME", str(bert_home))
    torch_run = Predictor.from_name(bert_file)
    onnx_run = Predictor.from_name(bert_file, backend="onnx")
    assert len(torch_run.model.tokenize(SENTENCES)[-1]) > 1  # the long text is read in windows, averaged in numpy
    expected, got = torch_run.predict_proba(SENTENCES, batch_size=3), onnx_run.predict_proba(SENTENCES, batch_size=3)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert got.argmax(1).tolist() == expected.argmax(1).tolist()
    assert onnx_run.predict_records(SENTENCES[:2]) == [
        {**r, "probability": pytest.approx(r["probability"], abs=1e-4)} for r in torch_run.predict_records(SENTENCES[:2])]
    import zoo.export

    calls = []
    monkeypatch.setattr(zoo.export, "export_model", lambda *a, **k: calls.append(a))
    assert Predictor.from_name(bert_file, backend="onnx").predict(SENTENCES[:1])[0][0] == torch_run.predict(SENTENCES[:1])[0][0]
    assert calls == []  # the second from_name reads the cached file


@pytest.mark.slow
def test_zoo_predict_backend_onnx_on_a_text_model(capsys, monkeypatch, bert_file, bert_home):
    monkeypatch.setenv("ZOO_HOME", str(bert_home))
    outs = []
    for backend in ("torch", "onnx"):
        code, out, err = run(capsys, "predict", bert_file, *SENTENCES[:3], "--backend", backend, "--json")
        assert code == 0, err
        outs.append(json.loads(out))
    assert [r["label"] for r in outs[1]] == [r["label"] for r in outs[0]]
    assert [r["probability"] for r in outs[1]] == pytest.approx([r["probability"] for r in outs[0]], abs=1e-4)


@pytest.mark.slow
def test_bert_runs_rewritten_with_its_top_layer_on_token_0_and_the_export_s_labels(monkeypatch, bert_file, bert_home):
    import onnx

    from zoo.onnx_runtime import OnnxClassifier, cached_onnx

    monkeypatch.setenv("ZOO_HOME", str(bert_home))
    onnx_run = Predictor.from_name(bert_file, backend="onnx")
    path = onnx_run.runtime.path
    assert path.name.endswith(".optimized.onnx") and not path.with_name(path.name.replace(".onnx", ".none")).exists()
    ops = [n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node]
    assert ops.count("Attention") == 5 and ops.count("MultiHeadAttention") == 1 and "SkipLayerNormalization" not in ops
    export = OnnxClassifier(path.with_name(path.name.replace(".optimized", "")))
    inputs = onnx_run.model.collate(onnx_run.model.tokenize(SENTENCES))  # padded, with the long text's windows
    torch.testing.assert_close(onnx_run.runtime(**inputs), export(**inputs), atol=1e-4, rtol=0)
    assert cached_onnx(zoo.get_weights(bert_file), {})[1] is False  # cached: made once


@pytest.mark.slow
def test_int8_checked_gives_fp32_logits_to_the_inputs_int8_is_unsure_of(monkeypatch, bert_file, bert_home):
    monkeypatch.setenv("ZOO_HOME", str(bert_home))
    fp32 = Predictor.from_name(bert_file, backend="onnx").predict_proba(SENTENCES, batch_size=3)
    int8 = Predictor.from_name(bert_file, backend="onnx-int8").predict_proba(SENTENCES, batch_size=3)
    checked = Predictor.from_name(bert_file, backend="onnx-int8-checked")
    assert checked.predict_proba(SENTENCES, batch_size=3).argmax(1).tolist() == fp32.argmax(1).tolist()
    checked.runtime.margin, checked.runtime.checked, checked.runtime.seen = float("inf"), 0, 0  # every input run again
    torch.testing.assert_close(checked.predict_proba(SENTENCES, batch_size=3), fp32, atol=1e-6, rtol=0)  # windows too
    assert checked.runtime.checked == checked.runtime.seen == len(SENTENCES)
    checked.runtime.margin = 0.0  # none
    torch.testing.assert_close(checked.predict_proba(SENTENCES, batch_size=3), int8, atol=1e-6, rtol=0)
    assert (checked.runtime.checked, checked.runtime.seen) == (len(SENTENCES), 2 * len(SENTENCES))


@pytest.mark.slow
def test_a_rewrite_that_changes_the_logits_is_dropped_for_the_export(monkeypatch, tmp_path, bert_file, bert_home):
    import shutil

    import zoo.onnx_runtime
    from zoo.onnx_runtime import cached_onnx

    monkeypatch.setenv("ZOO_HOME", str(bert_home))
    optimized, _ = cached_onnx(zoo.get_weights(bert_file), {})
    export = optimized.with_name(optimized.name.replace(".optimized", ""))
    home = tmp_path / "home"
    (home / "weights" / "onnx").mkdir(parents=True)
    for path in (export, export.with_name(export.name + ".sha256")):  # the export, not the rewrite
        shutil.copy(path, home / "weights" / "onnx" / path.name)
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setattr(zoo.onnx_runtime, "_PARITY_ATOL", -1.0)  # no rewrite is close enough
    runtime = Predictor.from_name(bert_file, backend="onnx").runtime
    assert runtime.path.name == export.name
    assert "differ from the export's" in (runtime.path.parent / export.name.replace(".onnx", ".optimized.none")).read_text()
    monkeypatch.setattr(zoo.onnx_runtime, "_optimize_transformer", lambda *a: pytest.fail("tried again"))
    assert Predictor.from_name(bert_file, backend="onnx").runtime.path.name == export.name
    assert Predictor.from_name(bert_file, backend="onnx-int8").runtime.path.name == export.name.replace(".onnx", ".int8.onnx")
