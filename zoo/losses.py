"""The training losses ``zoo train --loss`` chooses from, for classification models.

* ``cross_entropy``: on logits, with ``--label-smoothing`` (the default for models without a loss of their own);
* ``nll``: negative log-likelihood, for models whose output is log-probabilities (registered with
  ``output_kind="log_probabilities"``, as the course's ``log_softmax`` networks would be);
* ``mse``: the mean squared error of the softmax probabilities against one-hot targets (exercise 5 of the
  course's ``000_*.txt``: it saturates early, because a confidently wrong softmax has almost no gradient);
* ``model``: the model's own loss (``model.make_loss()`` or the registered ``loss``, e.g. the U-Net's Dice losses).

``auto`` (the default) is ``model`` where the model declares a loss, else ``cross_entropy``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError

__all__ = ["SoftmaxMSELoss", "check_loss", "divergence", "make_loss", "returns_log_probabilities"]

_NAMES = ("auto", "cross_entropy", "nll", "mse", "model")  # zoo.runs.LOSSES, the CLI choices


class SoftmaxMSELoss(nn.Module):
    """``mean((softmax(logits) - one_hot(target)) ** 2)`` over the batch and the classes: logits ``[N, K]``,
    targets ``int64 [N]``."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        return F.mse_loss(logits.softmax(dim=1), one_hot)


def returns_log_probabilities(spec: Any) -> bool:
    """Whether the model ``spec`` describes returns log-probabilities (what ``nll`` needs): its declared ``output_kind``."""
    return spec.output_kind == "log_probabilities"


def _declared_loss(spec: Any, model: nn.Module | None) -> nn.Module | None:
    if model is not None and hasattr(model, "make_loss"):
        return model.make_loss()
    factory = spec.resolve_loss()
    return None if factory is None else factory()


def check_loss(name: str, spec: Any) -> None:
    """Refuse a loss the model cannot train with (before anything is written)."""
    if name not in _NAMES:
        raise ZooError(f"unknown loss {name!r}; expected one of {', '.join(_NAMES)}")
    if name in ("cross_entropy", "nll", "mse") and spec.task != "classification":
        raise ZooError(f"--loss {name} is for classification models; {spec.name!r} is for {spec.task} (use --loss auto)")
    if name == "nll" and not returns_log_probabilities(spec):
        raise ZooError(f"--loss nll needs a model that returns log-probabilities; {spec.name!r} returns "
                       f"{spec.output or 'logits'}: use --loss cross_entropy, which applies log_softmax itself")


def make_loss(name: str, spec: Any, model: nn.Module | None = None, *, label_smoothing: float = 0.0) -> nn.Module:
    """The loss ``name`` (one of ``zoo.runs.LOSSES``) for the model of ``spec`` (and, when built, ``model``)."""
    check_loss(name, spec)
    declared = _declared_loss(spec, model) if name in ("auto", "model") else None
    if name == "model" and declared is None:
        raise ZooError(f"--loss model: {spec.name!r} declares no loss of its own; use cross_entropy, nll or mse")
    if declared is not None:
        return declared
    if name == "nll":
        return nn.NLLLoss()
    if name == "mse":
        return SoftmaxMSELoss()
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def divergence(loss: float, model: nn.Module) -> str | None:
    """Why training has diverged, in words: the epoch's mean training ``loss``, or a weight of ``model`` after the
    epoch's last step, is NaN or infinite; ``None`` while both are finite. One device sync for all the weights."""
    if not math.isfinite(loss):
        return f"the training loss is {loss}"
    peaks = [p.detach().abs().amax().float() for p in model.parameters() if p.numel()]  # NaN wins amax
    if peaks and not bool(torch.isfinite(torch.stack(peaks)).all()):
        return "the weights hold nan or inf"
    return None
