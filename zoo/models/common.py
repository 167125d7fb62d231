"""Building blocks several model families share: input-shape checks and the usual CNN initialisation."""

from __future__ import annotations

from typing import Sequence

import torch

from zoo.errors import DataError


def check_input_shape(x: torch.Tensor, expected: Sequence[int | None], model: str) -> None:
    """Raise a clear error unless ``x`` is ``[N, *expected]`` (``None`` matches any size)."""
    ok = x.dim() == len(expected) + 1 and all(e is None or e == s for e, s in zip(expected, x.shape[1:]))
    if not ok:
        want = ", ".join("*" if e is None else str(e) for e in expected)
        raise DataError(f"{model} expects input of shape [N, {want}], got {list(x.shape)}")


def init_cnn_weights(model: torch.nn.Module) -> None:
    """The usual CNN initialisation: Kaiming-normal convolutions (fan-out, ReLU), batch norm at
    identity, linear layers N(0, 0.01) with zero bias."""
    nn = torch.nn
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
