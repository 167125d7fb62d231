"""The CIFAR-10 family: ``vgg16_cifar`` (``zoo/models/vgg.py``), ``dsconv_net`` (``zoo/models/dsconv.py``),
``cifar_net`` (``zoo/models/cifar_net.py``), the ``cifar10`` data set (``zoo/datasets/cifar.py``), and
the constants both sides share.

Registered as ``"module:function"`` strings: importing this module imports no torch or numpy.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = ["CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR10_INPUT", "CIFAR10_INPUT_SHAPE",
           "CIFAR10_PREPROCESSING", "register_models", "register_datasets"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: Per-channel (R, G, B) mean and std of pixel values scaled to 0..1 (the course's values).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
#: One image without the batch dimension: (channels, rows, columns).
CIFAR10_INPUT_SHAPE = (3, 32, 32)
#: What the CIFAR-10 models take (their ``input``).
CIFAR10_INPUT = ("float32 [N, 3, 32, 32], normalised with CIFAR-10 mean (0.4914, 0.4822, 0.4465) / "
                 "std (0.2023, 0.1994, 0.2010)")

#: The input preprocessing of the CIFAR-10 models without weights (``zoo.preprocess.Preprocessing`` as data).
CIFAR10_PREPROCESSING = {"channels": 3, "size": [32, 32], "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD), "resize": "bilinear"}

#: The declared fields the CIFAR-10 models share (``zoo.registry.ModelSpec``).
_IO = {"output": "logits [N, 10]", "input_shape": CIFAR10_INPUT_SHAPE, "output_shape": (10,), "class_names": CIFAR10_CLASSES,
       "preprocessing": CIFAR10_PREPROCESSING}
_SGD_RECIPE = ("--epochs 200 --batch-size 128 --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 5e-4 "
               "--schedule cosine --patience 0")


@hookimpl
def register_models(register):
    register("vgg16_cifar", "zoo.models.vgg:vgg16_cifar", task="classification", tags=("cifar10", "cnn", "vgg"),
             description="VGG16 with batch norm for 32x32 images: 13 3x3 conv + BN + ReLU, 5 max-pools, Linear(512, 10).",
             input=CIFAR10_INPUT, **_IO, head="classifier", recipe=f"zoo train vgg16_cifar --data cifar10 {_SGD_RECIPE}")
    register("dsconv_net", "zoo.models.dsconv:dsconv_net", task="classification", weights=str(shipped_manifest_path()), tags=("cifar10", "mnist", "cnn", "mobilenet"),
             description="MobileNet-v1-style depthwise-separable CNN for 32x32 (or 28x28 with in_channels=1), "
                         "with a width multiplier.",
             input=f"{CIFAR10_INPUT}; or [N, 1, 28, 28] (MNIST) with in_channels=1 (global pooling: any size)",
             **_IO, head="classifier", recipe=f"zoo train dsconv_net --data cifar10 {_SGD_RECIPE}")
    register("cifar_net", "zoo.models.cifar_net:cifar_net", task="classification", tags=("cifar10", "cnn", "course"),
             description="The course's LeNet-style CIFAR-10 baseline: two 5x5 conv + ReLU + 2x2 max-pool, FC 120, FC 84, FC 10.",
             input=CIFAR10_INPUT, **_IO, head="fc3",
             recipe="zoo train cifar_net --data cifar10 --augment none --epochs 10 --optimizer adam --lr 1e-3 --batch-size 64")
    register("cifar_net_bn", "zoo.models.cifar_net:cifar_net_bn", task="classification", tags=("cifar10", "cnn", "course"),
             description="The course's improved CIFAR-10 network: pairs of 3x3 conv + BN + LeakyReLU in three stages, "
                         "dropout, FC 256, FC 10.",
             input=CIFAR10_INPUT, **_IO, head="classifier.4",
             recipe="zoo train cifar_net_bn --data cifar10 --epochs 20 --optimizer adam --lr 1e-3 --batch-size 128")


@hookimpl
def register_datasets(register):
    register("cifar10", "zoo.datasets.cifar:cifar10", task="classification", num_classes=10, class_names=CIFAR10_CLASSES,
             description="CIFAR-10, 32x32 colour images (torchvision's cifar-10-batches-py; download=True when online); "
                         "train split augmented with random crop (padding 4) + horizontal flip",
             input_shape=CIFAR10_INPUT_SHAPE, flips=True)
