"""The MNIST family: ``mnist_cnn`` and ``mnist_mlp`` (``zoo/models/mnist.py``), the ``digits`` and
``mnist`` data sets (``zoo/datasets/mnist.py``), and the constants both sides share.

Registered as ``"module:function"`` strings: importing this module imports no torch or numpy.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = ["MNIST_MEAN", "MNIST_STD", "MNIST_INPUT", "MNIST_INPUT_SHAPE", "DIGIT_NAMES", "register_models", "register_datasets"]

#: MNIST's pixel mean and std (pixel values scaled to 0..1): the data sets normalise with them.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
DIGIT_NAMES = tuple(str(d) for d in range(10))
#: One image without the batch dimension: (channels, rows, columns).
MNIST_INPUT_SHAPE = (1, 28, 28)
#: What the MNIST models take (their ``meta["input"]``).
MNIST_INPUT = "float32 [N, 1, 28, 28], normalised with MNIST mean 0.1307 / std 0.3081"

_IO = {"input": MNIST_INPUT, "output": "logits [N, 10]", "input_shape": MNIST_INPUT_SHAPE, "output_shape": (10,)}


@hookimpl
def register_models(register):
    manifest = str(shipped_manifest_path())
    register("mnist_cnn", "zoo.models.mnist:mnist_cnn", task="classification", weights=manifest, tags=("mnist", "cnn", "course"),
             description="The course's MNIST CNN: two 5x5 conv + ReLU + 2x2 max-pool, FC 50, FC 10.",
             meta={**_IO, "recipe": "zoo train mnist_cnn --data digits --epochs 30 -k n_feature=32"})
    register("mnist_mlp", "zoo.models.mnist:mnist_mlp", task="classification", weights=manifest, tags=("mnist", "mlp", "course"),
             description="The course's FC2Layer MLP baseline: 784 -> 8 -> 8 -> 10.",
             meta={**_IO, "recipe": "zoo train mnist_mlp --data digits --epochs 30"})


@hookimpl
def register_datasets(register):
    register("digits", "zoo.datasets.mnist:digits", task="classification", num_classes=10, class_names=DIGIT_NAMES,
             description="scikit-learn's 8x8 handwritten digits upscaled to 28x28 (offline; 1,438 train / 359 test)")
    register("mnist", "zoo.datasets.mnist:mnist", task="classification", num_classes=10, class_names=DIGIT_NAMES,
             description="MNIST handwritten digits, 28x28 (IDX files; download=True when online)")
