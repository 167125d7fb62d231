"""Predicting labels for raw texts: :class:`TextPredictor` bundles a text model, its tokenizer and its labels.

    from zoo.predict import TextPredictor
    predictor = TextPredictor.from_weights("runs/lstm_sentiment-reviews/model.safetensors")
    predictor.predict_sentiment("This film is terrible!")      # ('neg', 0.887...): label, its probability
    predictor.predict(["Loved it.", "A waste of two hours."])   # [('pos', ...), ('neg', ...)], input order

It works with any model that has the text side of the trainer protocol, ``tokenize(texts)`` (token ids
per text) and ``collate(encoded, pad_to=None)`` (the padded forward arguments, a tuple or a dict):
``lstm_sentiment``, ``bert_classifier`` and ``bart_classifier``. ``predict`` tokenizes every text once,
sorts the texts by length, cuts batches of similar length and pads each batch only to its own longest
text (dynamic padding), then puts the results back in input order; ``padding="max", sort=False`` is
the naive way (every text padded to the longest of all, in input order), kept for the benchmark.
"""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from zoo.datasets.text import check_texts
from zoo.errors import DataError, ZooError

__all__ = ["TextPredictor"]


def _length(item: Any) -> int:
    """Tokens in one encoded text: a list of ids (LSTM), or a list of windows (transformers)."""
    return sum(len(w) for w in item) if item and isinstance(item[0], (list, tuple)) else len(item)


def _width(item: Any) -> int:
    """The padded width one encoded text needs: its length, or its longest window."""
    return max(len(w) for w in item) if item and isinstance(item[0], (list, tuple)) else len(item)


def _check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as a positive ``int``; a ``ZooError`` naming the value otherwise."""
    try:
        value = operator.index(batch_size) if not isinstance(batch_size, bool) else None
    except TypeError:
        value = None
    if value is None or value < 1:
        raise ZooError(f"batch_size must be an integer of at least 1, got {batch_size!r}")
    return value


class TextPredictor:
    """A text classifier ready to label raw strings.

    ``model`` needs ``tokenize`` and ``collate`` (see the module docstring); ``class_names`` default to
    the model's; ``batch_size`` is the default of :meth:`predict`. The model is put in eval mode on ``device``.
    """

    def __init__(self, model: torch.nn.Module, *, class_names: Sequence[str] | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        if not (hasattr(model, "tokenize") and hasattr(model, "collate")):
            raise ZooError(f"{type(model).__name__} is not a text model: it has no tokenize()/collate()")
        self.batch_size = _check_batch_size(batch_size)
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.class_names = tuple(class_names or getattr(model, "class_names", ()) or ())
        if not self.class_names:
            raise ZooError("TextPredictor needs class_names (the model has none)")

    @property
    def tokenizer(self) -> Any:
        return getattr(self.model, "tokenizer", None)

    @classmethod
    def from_weights(cls, weights: str | os.PathLike, *, assets: str | os.PathLike | None = None, **kwargs: Any) -> "TextPredictor":
        """Load a hubzoo ``.safetensors`` file (the model and builder arguments are read from it) and the
        side files saved beside it by training (``tokenizer.json`` for the LSTM), or in ``assets``."""
        from zoo.api import get_model
        from zoo.weights import read_metadata

        path = Path(weights)
        meta = read_metadata(path)
        if "arch" not in meta:
            raise ZooError(f"{path} does not say which model it holds (no 'arch' metadata); build the model yourself "
                           "and pass it to TextPredictor(model)")
        model = get_model(meta["arch"], weights=str(path))
        if hasattr(model, "load_assets"):
            model.load_assets(assets if assets is not None else path.parent)
        names = None
        report = path.parent / "report.json"
        if report.is_file():
            names = json.loads(report.read_text()).get("class_names")
        return cls(model, class_names=names, **kwargs)

    def predict_proba(self, texts: Sequence[str], *, batch_size: int | None = None, sort: bool = True,
                      padding: str = "dynamic") -> torch.Tensor:
        """Class probabilities ``float32 [N, num_classes]`` for ``texts``, in input order.

        ``sort``: batch texts of similar length together; ``padding``: ``"dynamic"`` pads each batch to
        its longest text, ``"max"`` pads every batch to the longest text of all.
        """
        if padding not in ("dynamic", "max"):
            raise ZooError(f"padding must be 'dynamic' or 'max', got {padding!r}")
        batch_size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        encoded = self.model.tokenize(check_texts(texts))
        order = sorted(range(len(encoded)), key=lambda i: _length(encoded[i]), reverse=True) if sort else list(range(len(encoded)))
        pad_to = max(_width(e) for e in encoded) if padding == "max" else None
        probs = torch.empty(len(encoded), len(self.class_names))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                inputs = self.model.collate([encoded[i] for i in chunk], pad_to=pad_to)
                logits = self._forward(inputs)
                if logits.shape != (len(chunk), len(self.class_names)):
                    raise ZooError(f"the model returned {list(logits.shape)}, expected [{len(chunk)}, {len(self.class_names)}]")
                probs[chunk] = torch.softmax(logits.float(), dim=-1).cpu()
        return probs

    def _forward(self, inputs: Any) -> torch.Tensor:
        if isinstance(inputs, dict):
            return self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        return self.model(*(v.to(self.device) for v in inputs))

    def predict(self, texts: Sequence[str], **kwargs: Any) -> list[tuple[str, float]]:
        """``[(label, probability of that label), ...]`` for ``texts``, in input order (options as :meth:`predict_proba`)."""
        probs = self.predict_proba(texts, **kwargs)
        best = probs.argmax(dim=1)
        return [(self.class_names[c], float(probs[i, c])) for i, c in enumerate(best.tolist())]

    def predict_sentiment(self, text: str) -> tuple[str, float]:
        """The course's ``predict_sentiment``: one text -> ``(label, probability of that label)``, e.g. ``("neg", 0.887)``."""
        if not isinstance(text, (str, bytes)):
            raise DataError(f"predict_sentiment takes one text (str), got {type(text).__name__}; use predict() for a list")
        return self.predict([text])[0]
