"""The course's LSTM sentiment classifier, ``lstm_sentiment``, and its word-level tokenizer.

``model(token_ids, lengths)``: ``int64 [N, T]`` token ids (0 is ``<pad>``, 1 is ``<unk>``) and the real
lengths ``int64 [N]`` (each at least 1) -> logits ``[N, num_classes]``. The padded batch is packed
(``pack_padded_sequence``), so the LSTM never reads padding, and the final hidden states of the last
layer (both directions) go through dropout to the linear head.

The course built its tokenizer and vocabulary with torchtext, which is no longer developed and whose
native library does not load beside current torch. Here they are a Hugging Face ``tokenizers``
word-level model (NFKC, ``<br />`` removed, lower-cased, split on whitespace and punctuation), built
from the training texts by :meth:`LSTMSentiment.fit_preprocessing` and saved as ``tokenizer.json``
beside the weights. ``tokenizers`` is imported only when a tokenizer is built or loaded.

Trainer protocol (see ``zoo/evaluation.py``): ``fit_preprocessing(train_set)``, ``encode_batch(texts)
-> (token_ids, lengths)``, ``save_assets(folder)`` / ``load_assets(folder)``.
``model.example_input(batch_size)`` gives the keyword arguments of a valid forward pass without a vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from zoo.errors import DataError, WeightsError, ZooError
from zoo.families.text import SENTIMENT_NAMES, check_texts
from zoo.files import atomic_write_bytes

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["LSTMSentiment", "lstm_sentiment", "build_word_tokenizer", "load_word_tokenizer", "PAD", "UNK", "TOKENIZER_FILE"]

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1
TOKENIZER_FILE = "tokenizer.json"


def _word_tokenizer_pipeline(tokenizer: "Tokenizer") -> "Tokenizer":
    from tokenizers import Regex, normalizers, pre_tokenizers

    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"<br\s*/?>"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return tokenizer


def build_word_tokenizer(texts: Sequence[str], *, vocab_size: int, min_frequency: int = 1) -> "Tokenizer":
    """A word-level tokenizer whose vocabulary is the ``vocab_size - 2`` most frequent words of ``texts``
    (seen at least ``min_frequency`` times; ties broken alphabetically) after ``<pad>`` = 0 and ``<unk>`` = 1."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer

    tokenizer = _word_tokenizer_pipeline(Tokenizer(WordLevel(unk_token=UNK)))
    trainer = WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, UNK], show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def load_word_tokenizer(path: str | os.PathLike) -> "Tokenizer":
    """Read a ``tokenizer.json`` written by :func:`build_word_tokenizer`, checking that it is one."""
    from tokenizers import Tokenizer

    if not Path(path).is_file():
        raise WeightsError(f"{path} is missing: the LSTM's vocabulary is saved there, beside its weights")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
        raise WeightsError(f"{path} is not a readable tokenizer file ({exc})") from None
    if type(tokenizer.model).__name__ != "WordLevel" or tokenizer.token_to_id(PAD) != 0 or tokenizer.token_to_id(UNK) != 1:
        raise WeightsError(f"{path} is not an lstm_sentiment tokenizer (a word-level model with {PAD}=0 and {UNK}=1)")
    return tokenizer


class LSTMSentiment(nn.Module):
    """Embedding -> (bi)LSTM over packed sequences -> dropout -> linear head.

    ``vocab_size`` is the number of embedding rows, the cap on the vocabulary that
    :meth:`fit_preprocessing` builds; the size of the vocabulary actually built is kept in the
    ``vocab_used`` buffer, so that it is saved with the weights and checked against a tokenizer.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        embedding_dim: int,
        hidden_dim: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        num_classes: int,
        min_frequency: int = 1,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if vocab_size < 3:
            raise ZooError(f"lstm_sentiment: vocab_size must be at least 3 (<pad>, <unk> and one word), got {vocab_size}")
        self.vocab_size, self.min_frequency = vocab_size, min_frequency
        self.class_names = tuple(class_names) if class_names else tuple(f"class_{i}" for i in range(num_classes))
        if len(self.class_names) != num_classes:
            raise ZooError(f"lstm_sentiment: {len(self.class_names)} class_names for {num_classes} classes")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=num_layers, bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim * (2 if bidirectional else 1), num_classes)
        self.register_buffer("vocab_used", torch.zeros(1, dtype=torch.int64))
        self.tokenizer: Tokenizer | None = None

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``int64 [N, T]`` token ids and ``int64 [N]`` real lengths -> logits ``[N, num_classes]``."""
        if token_ids.dim() != 2 or token_ids.dtype != torch.int64:
            raise DataError(f"lstm_sentiment expects token_ids int64 [N, T], got {token_ids.dtype} {list(token_ids.shape)}")
        lengths = torch.as_tensor(lengths).cpu()  # pack_padded_sequence wants the lengths on the CPU
        if lengths.shape != token_ids.shape[:1]:
            raise DataError(f"lstm_sentiment expects lengths [N] = [{token_ids.shape[0]}], got {list(lengths.shape)}")
        if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > token_ids.shape[1]):
            raise DataError(f"lstm_sentiment: lengths must lie in 1..{token_ids.shape[1]} (T), got {lengths.tolist()[:8]}")
        if token_ids.numel() and not 0 <= int(token_ids.min()) <= int(token_ids.max()) < self.vocab_size:
            raise DataError(f"lstm_sentiment: token ids must lie in 0..{self.vocab_size - 1} (vocab_size)")
        embedded = self.dropout(self.embedding(token_ids))
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: [num_layers * directions, N, hidden_dim]
        last = torch.cat([hidden[-2], hidden[-1]], dim=1) if self.lstm.bidirectional else hidden[-1]
        return self.head(self.dropout(last))

    # -- the tokenizer and the trainer protocol -------------------------------------------------

    def set_tokenizer(self, tokenizer: "Tokenizer", *, source: str = "the tokenizer") -> None:
        """Attach a word-level tokenizer, checking that it fits the embedding (and the trained weights)."""
        size = tokenizer.get_vocab_size()
        if size > self.vocab_size:
            raise WeightsError(f"{source} has {size} tokens, but the model's embedding has only {self.vocab_size} rows "
                               "(vocab_size): the tokenizer belongs to other weights")
        used = int(self.vocab_used)
        if used and size != used:
            raise WeightsError(f"{source} has {size} tokens, but these weights were trained with a {used}-token "
                               "vocabulary: the tokenizer belongs to other weights")
        self.tokenizer = tokenizer
        self.vocab_used.fill_(size)

    def fit_preprocessing(self, dataset: Any) -> None:
        """Build the vocabulary from the texts of ``dataset`` (items ``(text, label)``; a ``Subset`` works)."""
        base, indices = dataset, range(len(dataset))
        if isinstance(dataset, torch.utils.data.Subset) and hasattr(dataset.dataset, "texts"):
            base, indices = dataset.dataset, dataset.indices
        texts = [base.texts[i] for i in indices] if hasattr(base, "texts") else [dataset[i][0] for i in indices]
        self.vocab_used.zero_()
        self.set_tokenizer(build_word_tokenizer(check_texts(texts), vocab_size=self.vocab_size, min_frequency=self.min_frequency),
                           source="the vocabulary built from the training texts")

    def save_assets(self, folder: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` into ``folder`` (atomically)."""
        atomic_write_bytes(Path(folder) / TOKENIZER_FILE, self._require_tokenizer().to_str(pretty=True).encode())

    def load_assets(self, folder: str | os.PathLike) -> None:
        """Read ``tokenizer.json`` from ``folder`` (a run folder, or wherever the weights file lies)."""
        path = Path(folder) / TOKENIZER_FILE
        self.set_tokenizer(load_word_tokenizer(path), source=str(path))

    def _require_tokenizer(self) -> "Tokenizer":
        if self.tokenizer is None:
            raise ZooError("lstm_sentiment has no vocabulary yet: train it (fit_preprocessing builds one), or load "
                           f"the {TOKENIZER_FILE} saved beside its weights with model.load_assets(folder)")
        return self.tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text; words outside the vocabulary become ``<unk>`` (1)."""
        tokenizer = self._require_tokenizer()
        if int(self.vocab_used) != tokenizer.get_vocab_size():  # weights loaded after the tokenizer
            self.set_tokenizer(tokenizer)
        texts = check_texts(texts)
        encoded = [e.ids for e in tokenizer.encode_batch(texts)]
        for i, ids in enumerate(encoded):
            if not ids:
                raise DataError(f"text #{i} has no tokens: {texts[i]!r:.60}")
        return encoded

    def collate(self, encoded: Sequence[Sequence[int]], pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad token-id lists to the longest (or to ``pad_to``): ``(int64 [N, T], int64 [N])``."""
        lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.int64)
        width = max(int(lengths.max()), pad_to or 0)
        token_ids = torch.zeros(len(encoded), width, dtype=torch.int64)
        for row, ids in enumerate(encoded):
            token_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return token_ids, lengths

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of raw texts -> ``(token_ids int64 [N, T], lengths int64 [N])``, padded to its longest text."""
        return self.collate(self.tokenize(texts))

    def example_input(self, batch_size: int = 2, length: int = 8) -> dict[str, torch.Tensor]:
        """A valid input that needs no vocabulary, for shape checks: ``batch_size`` texts of ``length`` unknown
        words (id 1), as the keyword arguments of :meth:`forward` (``model(**model.example_input(2))``)."""
        token_ids = torch.full((batch_size, length), 1, dtype=torch.int64, device=self.embedding.weight.device)
        return {"token_ids": token_ids, "lengths": torch.full((batch_size,), length, dtype=torch.int64)}


def lstm_sentiment(
    *,
    vocab_size: int = 25_000,
    embedding_dim: int = 300,
    hidden_dim: int = 300,
    num_layers: int = 2,
    bidirectional: bool = True,
    dropout: float = 0.5,
    num_classes: int = 2,
    min_frequency: int = 1,
) -> LSTMSentiment:
    """The course's sentiment LSTM (defaults: 300-d embedding, two bidirectional 300-unit layers,
    dropout 0.5, a vocabulary of at most 25,000 tokens). Train it first (``zoo train lstm_sentiment
    --data reviews``): its vocabulary comes from the training texts."""
    names = SENTIMENT_NAMES if num_classes == 2 else None
    return LSTMSentiment(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_dim=hidden_dim, num_layers=num_layers,
                         bidirectional=bidirectional, dropout=dropout, num_classes=num_classes,
                         min_frequency=min_frequency, class_names=names)
