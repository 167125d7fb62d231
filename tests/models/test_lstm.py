"""``zoo/models/lstm.py``: the LSTM sentiment model and its word-level tokenizer: tokenising, logits from token
ids and lengths (padding ignored), malformed input, and the tokenizer saved beside the weights."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.datasets.text import TextDataset
from zoo.errors import DataError, WeightsError, ZooError
from zoo.models.lstm import LSTMSentiment, lstm_sentiment


def _fitted_lstm(**kwargs) -> LSTMSentiment:
    torch.manual_seed(0)
    model = lstm_sentiment(**{"embedding_dim": 16, "hidden_dim": 16, **kwargs})
    model.fit_preprocessing(zoo.get_dataset("reviews", split="train"))
    return model.eval()


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

