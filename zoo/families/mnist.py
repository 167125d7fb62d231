"""The MNIST family: ``mnist_cnn`` and ``mnist_mlp`` (``zoo/models/mnist.py``), the ``digits`` and
``mnist`` data sets (``zoo/datasets/mnist.py``), and the constants both sides share.

Registered as ``"module:function"`` strings: importing this module imports no torch or numpy.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = ["MNIST_MEAN", "MNIST_STD", "MNIST_INPUT", "MNIST_INPUT_SHAPE", "DIGIT_NAMES", "FASHION_MEAN", "FASHION_STD",
           "FASHION_NAMES", "MNIST_PREPROCESSING", "register_models", "register_datasets"]

#: MNIST's pixel mean and std (pixel values scaled to 0..1): the data sets normalise with them.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
DIGIT_NAMES = tuple(str(d) for d in range(10))
#: Fashion-MNIST's own pixel mean and std (0..1), computed once over its 60,000 training images
#: (0.28604 and 0.35302): ``fashion_mnist`` normalises with them, not with MNIST's.
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
#: Fashion-MNIST's labels 0..9, as zalandoresearch/fashion-mnist names them.
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: One image without the batch dimension: (channels, rows, columns).
MNIST_INPUT_SHAPE = (1, 28, 28)
#: What the MNIST models take (their ``input``).
MNIST_INPUT = "float32 [N, 1, 28, 28], normalised with MNIST mean 0.1307 / std 0.3081"

#: The input preprocessing of the MNIST models without weights (``zoo.preprocess.Preprocessing`` as data);
#: weights carry their own (Fashion-MNIST weights normalise with Fashion-MNIST's mean and std).
MNIST_PREPROCESSING = {"channels": 1, "size": [28, 28], "mean": list(MNIST_MEAN), "std": list(MNIST_STD), "resize": "bilinear"}

#: The declared fields both MNIST models share (``zoo.registry.ModelSpec``).
_IO = {"input": MNIST_INPUT, "output": "logits [N, 10]", "input_shape": MNIST_INPUT_SHAPE, "output_shape": (10,),
       "preprocessing": MNIST_PREPROCESSING}


@hookimpl
def register_models(register):
    manifest = str(shipped_manifest_path())
    register("mnist_cnn", "zoo.models.mnist:mnist_cnn", task="classification", weights=manifest, tags=("mnist", "cnn", "course"),
             description="The course's MNIST CNN: two 5x5 conv + ReLU + 2x2 max-pool, FC 50, FC 10.",
             **_IO, head="fc2", recipe="zoo train mnist_cnn --data digits --epochs 30 -k n_feature=32")
    register("mnist_mlp", "zoo.models.mnist:mnist_mlp", task="classification", weights=manifest, tags=("mnist", "mlp", "course"),
             description="The course's FC2Layer MLP baseline: 784 -> 8 -> 8 -> 10.",
             **_IO, head="network.4", recipe="zoo train mnist_mlp --data digits --epochs 30")


@hookimpl
def register_datasets(register):
    register("digits", "zoo.datasets.mnist:digits", task="classification", num_classes=10, class_names=DIGIT_NAMES,
             description="scikit-learn's 8x8 handwritten digits upscaled to 28x28 (offline; 1,438 train / 359 test)",
             flips=False)  # a mirrored digit is another sign: --augment never flips digits
    register("mnist", "zoo.datasets.mnist:mnist", task="classification", num_classes=10, class_names=DIGIT_NAMES,
             description="MNIST handwritten digits, 28x28 (IDX files, gzipped or not; download=True when online)",
             flips=False)
    register("fashion_mnist", "zoo.datasets.mnist:fashion_mnist", task="classification", num_classes=10, class_names=FASHION_NAMES,
             description="Fashion-MNIST: 28x28 grayscale clothing, 10 classes, 60,000 train / 10,000 test (IDX files: "
                         "apt-get install dataset-fashion-mnist, or --download when online)",
             flips=True)
