"""Pretrained transformer classifiers: ``bert_classifier`` and ``bart_classifier``.

Each wraps ``transformers.AutoModelForSequenceClassification`` and its tokenizer, loaded from a
Hugging Face checkpoint name or a local folder (offline: ``HF_HUB_OFFLINE=1`` and a folder holding
``config.json``, the weights and the tokenizer files). The wrapper returns plain logits, so the shared
trainer and evaluator treat it like any classifier; ``transformers`` is imported only when a model is built.

Long texts. BERT reads at most 512 positions, [CLS] and [SEP] included. ``long_text`` picks what to do
with a longer text (``B = max_length - specials`` body tokens fit in one window):

* ``"head_tail"`` (default): the first ``head_tokens`` (128; ``B // 4`` when ``B < 256``) and the last
  ``B - head_tokens`` (382 for BERT) tokens, the best of the truncation methods on IMDB in Sun et al.,
  "How to Fine-Tune BERT for Text Classification?" (2019): a review's opening and its verdict are kept;
* ``"truncate"``: the first ``B`` tokens;
* ``"sliding"``: windows of ``B`` tokens starting every ``stride`` tokens (default ``B // 2``, 255 for
  BERT), the last one aligned with the end of the text; the class probabilities are averaged over a
  text's windows. It reads every token, at the cost of one forward pass per window.

Texts that fit in one window get the same input under all three.

Trainer protocol (see ``zoo/evaluation.py``): ``encode_batch(texts) -> dict`` (``input_ids``,
``attention_mask`` ``int64 [W, L]`` with ``W`` windows, and ``text_index`` ``int64 [W]`` when a text has
more than one window), then ``model(**batch) -> logits [N, num_labels]``; ``save_assets(folder)`` /
``load_assets(folder)`` write and read the tokenizer beside the weights.
``model.example_input(batch_size)`` gives the keyword arguments of a valid forward pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from zoo.errors import DataError, WeightsError, ZooError
from zoo.families.text import SENTIMENT_NAMES, check_texts

__all__ = ["TransformerClassifier", "bert_classifier", "bart_classifier", "LONG_TEXT_STRATEGIES", "DEFAULT_LONG_TEXT",
           "load_checkpoint"]

LONG_TEXT_STRATEGIES = ("truncate", "head_tail", "sliding")
DEFAULT_LONG_TEXT = "head_tail"
TOKENIZER_FOLDER = "tokenizer"


class TransformerClassifier(nn.Module):
    """A Hugging Face sequence classifier and its tokenizer, with the long-text strategies above.

    ``forward(input_ids [W, L], attention_mask [W, L], text_index [W] | None) -> logits [N, num_labels]``.
    Without ``text_index`` each row is one text and the model's logits are returned as they are; with
    it, row ``w`` is a window of text ``text_index[w]`` and the result is the log of the window-averaged
    class probabilities (softmax of it gives the averaged probabilities, so it works as logits).
    """

    def __init__(
        self,
        hf_model: nn.Module,
        tokenizer: Any,
        *,
        long_text: str = DEFAULT_LONG_TEXT,
        max_length: int = 512,
        head_tokens: int | None = None,
        stride: int | None = None,
        checkpoint: str = "",
    ) -> None:
        super().__init__()
        if long_text not in LONG_TEXT_STRATEGIES:
            raise ZooError(f"long_text must be one of {LONG_TEXT_STRATEGIES}, got {long_text!r}")
        positions = getattr(hf_model.config, "max_position_embeddings", None)
        if positions is not None and max_length > positions:
            raise ZooError(f"max_length={max_length} is longer than the {positions} positions {checkpoint or 'the model'} has")
        self.hf = hf_model
        self.checkpoint = checkpoint
        self.long_text, self.max_length = long_text, max_length
        self._set_tokenizer(tokenizer, source=f"the tokenizer of {checkpoint or 'the checkpoint'}")
        body = self.body_tokens
        self.head_tokens = head_tokens if head_tokens is not None else (128 if body >= 256 else body // 4)
        self.stride = stride if stride is not None else body // 2
        head_tokens, stride = self.head_tokens, self.stride
        if not 0 < head_tokens < body:
            raise ZooError(f"head_tokens must lie in 1..{body - 1} (max_length {max_length} minus special tokens), got {head_tokens}")
        if not 0 < stride <= body:
            raise ZooError(f"stride must lie in 1..{body} (the window's body length), got {stride}")

    @property
    def class_names(self) -> tuple[str, ...]:
        id2label = self.hf.config.id2label
        return tuple(id2label[i] for i in range(len(id2label)))

    @property
    def body_tokens(self) -> int:
        """Text tokens per window: ``max_length`` minus the special tokens ([CLS] x [SEP] for BERT, <s> x </s> for BART)."""
        return self.max_length - len(self._prefix) - len(self._suffix)

    def _set_tokenizer(self, tokenizer: Any, *, source: str) -> None:
        rows = self.hf.get_input_embeddings().num_embeddings
        if len(tokenizer) > rows:
            raise WeightsError(f"{source} has {len(tokenizer)} tokens, but the model's embedding has {rows} rows: "
                               "the tokenizer belongs to another model")
        if tokenizer.pad_token_id is None:
            raise WeightsError(f"{source} has no padding token; set one (tokenizer.pad_token = ...) before use")
        # The special tokens one text gets ([CLS] ... [SEP]), read off an encoding so any tokenizer works.
        probe = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
        mask, ids = probe["special_tokens_mask"], probe["input_ids"]
        start = mask.index(0) if 0 in mask else len(mask)
        end = len(mask) - mask[::-1].index(0) if 0 in mask else len(mask)
        self.tokenizer, self._prefix, self._suffix = tokenizer, ids[:start], ids[end:]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, text_index: torch.Tensor | None = None) -> torch.Tensor:
        if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise DataError(f"expected input_ids and attention_mask [W, L], got {list(input_ids.shape)} and {list(attention_mask.shape)}")
        logits = self.hf(input_ids=input_ids, attention_mask=attention_mask).logits
        if text_index is None:
            return logits
        num_texts = int(text_index[-1]) + 1  # windows come in text order
        probs = torch.softmax(logits.float(), dim=-1)
        sums = probs.new_zeros(num_texts, probs.shape[1]).index_add(0, text_index, probs)
        counts = torch.bincount(text_index, minlength=num_texts).clamp_min(1).to(probs.dtype)
        return (sums / counts[:, None]).clamp_min(torch.finfo(probs.dtype).tiny).log()

    # -- tokenizing, long texts, the trainer protocol ------------------------------------------

    def windows(self, body: Sequence[int]) -> list[list[int]]:
        """The windows (special tokens added) that one text's body tokens become under ``long_text``."""
        size = self.body_tokens
        if len(body) <= size:
            parts = [list(body)]
        elif self.long_text == "truncate":
            parts = [list(body[:size])]
        elif self.long_text == "head_tail":
            parts = [list(body[: self.head_tokens]) + list(body[len(body) - (size - self.head_tokens):])]
        else:
            starts = list(range(0, len(body) - size, self.stride)) + [len(body) - size]
            parts = [list(body[s : s + size]) for s in starts]
        return [self._prefix + p + self._suffix for p in parts]

    def tokenize(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """For each text, its windows of token ids (one window unless the text is long and ``long_text="sliding"``)."""
        texts = check_texts(texts)
        bodies = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]  # no length warning: we cut
        out = []
        for i, body in enumerate(bodies):
            if not body:
                raise DataError(f"text #{i} has no tokens for this tokenizer: {texts[i]!r:.60}")
            out.append(self.windows(body))
        return out

    def collate(self, encoded: Sequence[Sequence[Sequence[int]]], pad_to: int | None = None) -> dict[str, torch.Tensor]:
        """Pad every window to the longest in the batch (or to ``pad_to``): ``input_ids``, ``attention_mask``
        ``int64 [W, L]`` and, when some text has several windows, ``text_index`` ``int64 [W]``."""
        rows = [w for windows in encoded for w in windows]
        width = max(max(len(w) for w in rows), pad_to or 0)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.int64)
        attention_mask = torch.zeros(len(rows), width, dtype=torch.int64)
        for r, ids in enumerate(rows):
            input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
            attention_mask[r, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if len(rows) > len(encoded):
            batch["text_index"] = torch.repeat_interleave(torch.tensor([len(w) for w in encoded]))
        return batch

    def encode_batch(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """A batch of raw texts -> the keyword arguments of :meth:`forward`, padded to the batch's longest window."""
        return self.collate(self.tokenize(texts))

    def example_input(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A valid input for shape checks: ``batch_size`` copies of a short review, encoded by :meth:`encode_batch`
        (``model(**model.example_input(2))`` gives logits ``[2, num_labels]``)."""
        return self.encode_batch(["A short example review."] * batch_size)

    def save_assets(self, folder: str | os.PathLike) -> None:
        """Save the tokenizer into ``folder/tokenizer/`` (Hugging Face files), beside the weights."""
        self.tokenizer.save_pretrained(str(Path(folder) / TOKENIZER_FOLDER))

    def load_assets(self, folder: str | os.PathLike) -> None:
        """Use the tokenizer saved in ``folder/tokenizer/`` by :meth:`save_assets`, when there is one."""
        path = Path(folder) / TOKENIZER_FOLDER
        if path.is_dir():
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path))
            except Exception as exc:  # transformers raises OSError, ValueError, KeyError...
                raise WeightsError(f"cannot read the tokenizer in {path}: {exc}") from None
            self._set_tokenizer(tokenizer, source=f"the tokenizer in {path}")


def _labels(num_labels: int, id2label: Mapping[Any, str] | None, label2id: Mapping[str, Any] | None) -> tuple[dict[int, str], dict[str, int]]:
    if id2label is None:
        id2label = dict(enumerate(SENTIMENT_NAMES)) if num_labels == 2 else {i: f"LABEL_{i}" for i in range(num_labels)}
    id2label = {int(k): str(v) for k, v in id2label.items()}  # JSON (-k id2label=...) gives string keys
    if sorted(id2label) != list(range(num_labels)):
        raise ZooError(f"id2label must name the labels 0..{num_labels - 1}, got keys {sorted(id2label)}")
    expected = {v: k for k, v in id2label.items()}
    if label2id is not None and {str(k): int(v) for k, v in label2id.items()} != expected:
        raise ZooError(f"label2id {dict(label2id)} is not the inverse of id2label {id2label}")
    return id2label, expected


def load_checkpoint(checkpoint: str, *, num_labels: int, id2label: dict[int, str], label2id: dict[str, int]) -> tuple[nn.Module, Any]:
    """``(AutoModelForSequenceClassification, AutoTokenizer)`` from a local folder or a Hub name, with errors
    that say what is missing. A new classification head is initialised when the checkpoint has none, or one for
    another number of labels."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsError(f"checkpoint folder {path} has no config.json: it is not a Hugging Face model folder "
                               "(expected config.json, model.safetensors and the tokenizer files)")
        source = str(path)
    elif path.exists():
        raise WeightsError(f"checkpoint {path} is a file; pass the folder that holds config.json and the weights")
    elif checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") > 1:
        raise WeightsError(f"checkpoint folder {path} does not exist")
    else:
        source = checkpoint  # a Hub name such as bert-base-uncased: from the cache, or downloaded when online
    try:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:
        raise ZooError(f"transformers is not installed ({exc}); pip install 'hubzoo[text]'") from None
    from transformers.utils import logging as hf_logging

    # transformers reports the head it initialises (and a progress bar) at every load: expected here, so kept quiet.
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        # A checkpoint with a classification head for another number of labels gets a fresh head (fine-tuning).
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=num_labels, id2label=id2label, label2id=label2id, dtype=torch.float32, ignore_mismatched_sizes=True)
    except (OSError, ValueError, KeyError) as exc:
        offline = " (offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0") else ""
        raise WeightsError(f"cannot load checkpoint {checkpoint!r}{offline}: {exc}. Pass a local folder with config.json, "
                           "the weights and the tokenizer files, e.g. -k checkpoint=/path/to/folder") from None
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def freeze_lower_layers(hf_model: nn.Module, train_layers: int) -> None:
    """Leave only the top ``train_layers`` encoder layers (and everything above them: pooler, head) trainable: the
    embeddings and the layers below get ``requires_grad=False``. A fine-tune then changes few tensors, so its
    weights can ship as the difference to the pretrained checkpoint (``zoo pin --difference checkpoint``)."""
    encoder = getattr(getattr(hf_model, "base_model", None), "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ZooError(f"train_layers is for BERT-style encoders (base_model.encoder.layer); {type(hf_model).__name__} has none")
    if not 0 <= train_layers <= len(layers):
        raise ZooError(f"train_layers must lie in 0..{len(layers)} (the checkpoint's encoder layers), got {train_layers}")
    hf_model.base_model.embeddings.requires_grad_(False)
    for layer in layers[: len(layers) - train_layers]:
        layer.requires_grad_(False)


def _build(checkpoint: str, num_labels: int, id2label: Any, label2id: Any, train_layers: int | None = None,
           **options: Any) -> TransformerClassifier:
    id2label, label2id = _labels(num_labels, id2label, label2id)
    model, tokenizer = load_checkpoint(checkpoint, num_labels=num_labels, id2label=id2label, label2id=label2id)
    if train_layers is not None:
        freeze_lower_layers(model, train_layers)
    return TransformerClassifier(model, tokenizer, checkpoint=checkpoint, **options)


def bert_classifier(
    *,
    checkpoint: str = "bert-base-uncased",
    num_labels: int = 2,
    id2label: Mapping[int, str] | None = None,
    label2id: Mapping[str, int] | None = None,
    long_text: str = DEFAULT_LONG_TEXT,
    max_length: int = 512,
    head_tokens: int | None = None,
    stride: int | None = None,
    train_layers: int | None = None,
) -> TransformerClassifier:
    """BERT (or any encoder checkpoint) with a sequence-classification head. ``checkpoint`` is a Hub
    name or a local folder; ``id2label`` defaults to ``{0: "neg", 1: "pos"}`` for two labels. Long
    texts: ``long_text`` in ``truncate | head_tail | sliding`` (default ``head_tail``, 128 + 382 tokens).
    ``train_layers=K`` freezes the embeddings and all but the top ``K`` encoder layers (``None``: all train)."""
    return _build(checkpoint, num_labels, id2label, label2id, train_layers, long_text=long_text, max_length=max_length,
                  head_tokens=head_tokens, stride=stride)


def bart_classifier(
    *,
    checkpoint: str = "facebook/bart-base",
    num_labels: int = 2,
    id2label: Mapping[int, str] | None = None,
    label2id: Mapping[str, int] | None = None,
    long_text: str = DEFAULT_LONG_TEXT,
    max_length: int = 512,
    head_tokens: int | None = None,
    stride: int | None = None,
) -> TransformerClassifier:
    """BART with its sequence-classification head (the decoder's last ``</s>`` state). BART-base has
    1,024 positions: ``max_length=1024`` reads twice as much per window as the 512 default."""
    return _build(checkpoint, num_labels, id2label, label2id, long_text=long_text, max_length=max_length,
                  head_tokens=head_tokens, stride=stride)
