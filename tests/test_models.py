"""Every model hubzoo registers, checked the same way (as timm's ``test_models.py``), and the model-cost
helpers of ``zoo/models/complexity.py``.

The contract a built-in model's registration keeps:

* the builder is keyword-only: ``def name(*, ...)``;
* ``meta["input"]`` and ``meta["output"]`` say in prose what goes in and comes out;
* ``meta["input_shape"]`` is one sample's input shape without the batch dimension; a model whose input
  is not one float tensor (token ids, strings) has ``model.example_input(batch_size)`` instead, the
  keyword arguments of a valid forward pass, and says so in ``meta["example_input"]``;
* ``meta["output_shape"]`` is one sample's output shape, without the batch dimension, for that input
  and the builder's defaults: ``(10,)`` for ten logits, ``(1, 64, 64)`` for a one-channel mask of a 64x64 input.

Models are built untrained (no weights); those that need a pretrained folder get a small local one.
"""

from __future__ import annotations

import inspect
import os

# huggingface_hub reads this when it is imported: set it before anything imports transformers.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from torch import nn

from zoo.api import get_model
from zoo.models.complexity import count_macs, count_params
from zoo.plugins import build_registry, get_registry

# The models of the built-in families. Installed third-party plugins are not held to this contract, and
# a registry built here leaves the process-wide one (get_registry) to the tests.
MODELS = build_registry(use_entry_points=False).list_models()
# Builder arguments that models needing a pretrained checkpoint folder get, by fixture name.
CHECKPOINT_FIXTURES = {"bert_classifier": "minilm_checkpoint", "bart_classifier": "tiny_bart_checkpoint"}


def _spec(name: str):
    return get_registry().model(name)


@pytest.mark.parametrize("name", MODELS)
def test_builder_is_keyword_only(name):
    parameters = inspect.signature(_spec(name).resolve_factory()).parameters.values()
    positional = [p.name for p in parameters if p.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD)]
    assert not positional, f"{name}'s builder takes {positional} positionally; make them keyword-only (def {name}(*, ...))"


@pytest.mark.parametrize("name", MODELS)
def test_meta_declares_input_and_output(name):
    spec = _spec(name)
    assert isinstance(spec.input, str) and spec.input, "input says what the model takes"
    assert isinstance(spec.output, str) and spec.output, "output says what it returns"
    assert spec.input_shape or spec.example_input, "input_shape, or example_input for other inputs"
    assert spec.output_shape, "output_shape declares one sample's output shape"
    for shape in (spec.input_shape, spec.output_shape):
        assert shape is None or all(isinstance(d, int) and d > 0 for d in shape), shape


@pytest.mark.parametrize("name", MODELS)
def test_forward_pass_gives_the_declared_output_shape(name, request):
    spec = _spec(name)
    kwargs = request.getfixturevalue(CHECKPOINT_FIXTURES[name]) if name in CHECKPOINT_FIXTURES else {}
    torch.manual_seed(0)
    model = get_model(name, **kwargs).eval()
    with torch.no_grad():
        if spec.input_shape:
            output = model(torch.zeros(2, *spec.input_shape))
        else:
            output = model(**model.example_input(2))
    assert tuple(output.shape) == (2, *spec.output_shape)
    assert torch.isfinite(output).all()


# -- zoo/models/complexity.py: parameters and multiply-adds ------------------------------------------


def test_count_macs_of_a_linear_and_of_grouped_convolutions():
    assert count_macs(nn.Linear(20, 30), (20,)) == 30 * 20
    assert count_macs(nn.Linear(20, 30), (5, 20)) == 5 * 30 * 20  # a sequence of 5 vectors
    # out 16 x 10 x 10 values, each from in/groups = 2 channels x 3 x 3
    assert count_macs(nn.Conv2d(8, 16, 3, padding=1, groups=4), (8, 10, 10)) == 16 * 100 * 2 * 9
    assert count_macs(nn.Conv2d(8, 16, 3, padding=1), (8, 10, 10)) == 16 * 100 * 8 * 9
    assert count_macs(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), (8, 10, 10)) == 8 * 25 * 9  # depthwise
    assert count_macs(nn.Conv1d(4, 6, 5), (4, 20)) == 6 * 16 * 4 * 5
    assert count_macs(nn.ConvTranspose2d(4, 6, 2, stride=2), (4, 5, 5)) == 4 * 25 * 6 * 4
    assert count_macs(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3)), (7,), dtype=torch.long) == 7 * 3 * 4
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    count_macs(model, (3, 8, 8))
    assert model.training and not model[0]._forward_hooks  # mode restored, hooks removed
    assert count_params(model) == 3 * 4 * 9 + 4 + 2 * 4
