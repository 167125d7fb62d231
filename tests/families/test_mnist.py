"""The MNIST family's registrations (``zoo/families/mnist.py``): the two models and three data sets it declares,
with the shared constants. The models are tested in tests/models/test_mnist.py, the data sets and the IDX
reader in tests/datasets/test_mnist.py."""

from __future__ import annotations

import zoo
from zoo.families.mnist import DIGIT_NAMES, FASHION_NAMES, MNIST_PREPROCESSING
from zoo.plugins import get_registry


def test_both_models_are_registered_with_their_shapes_and_preprocessing():
    assert zoo.list_models("mnist*") == ["mnist_cnn", "mnist_mlp"]
    for name in ("mnist_cnn", "mnist_mlp"):
        spec = get_registry().model(name)
        assert spec.factory == f"zoo.models.mnist:{name}" and spec.task == "classification"
        assert (spec.input_shape, spec.output_shape) == ((1, 28, 28), (10,)) and "[N, 1, 28, 28]" in spec.input
        assert dict(spec.preprocessing) == MNIST_PREPROCESSING == {"channels": 1, "size": [28, 28], "mean": [0.1307],
                                                                   "std": [0.3081], "resize": "bilinear"}
        assert "digits" in spec.weights and spec.recipe.startswith(f"zoo train {name} --data digits")


def test_digits_and_mnist_are_registered_with_the_digit_names_and_never_flip():
    for name in ("digits", "mnist"):
        spec = get_registry().dataset(name)
        assert spec.class_names == DIGIT_NAMES == tuple("0123456789") and spec.num_classes == 10 and not spec.flips


def test_fashion_mnist_is_registered_with_its_class_names():
    assert "fashion_mnist" in zoo.list_datasets()
    spec = get_registry().dataset("fashion_mnist")
    assert spec.num_classes == 10 and spec.class_names == FASHION_NAMES and spec.task == "classification"


