"""Every model hubzoo registers, checked the same way (as timm's ``test_models.py``); each model's own module is
tested in tests/models/ (tests/luna/test_models.py for LUNA16's).

The contract a built-in model's registration keeps:

* the builder is keyword-only: ``def name(*, ...)``;
* ``input`` and ``output`` say in prose what goes in and comes out;
* ``input_shape`` is one sample's input shape without the batch dimension; a model whose input
  is not one float tensor (token ids, strings) has ``model.example_input(batch_size)`` instead, the
  keyword arguments of a valid forward pass, and says so in ``example_input``;
* ``output_shape`` is one sample's output shape, without the batch dimension, for that input
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

from zoo.api import get_model
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

