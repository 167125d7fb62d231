"""The plugin module named by the entry point: hook implementations only.

Factories are registered as "module:function" strings, so `zoo list` never imports torchvision's
model code through this plugin.
"""

from zoo import hookimpl

FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


@hookimpl
def register_models(register):
    register(
        "resnet18_cifar",
        "zoo_example_plugin.models:resnet18_cifar",
        task="classification",
        description="ResNet-18 (torchvision) with a 3x3 stride-1 stem and no max-pool, for 32x32 images.",
        tags=("resnet", "cifar10", "example-plugin"),
        meta={"input": "float32 [N, in_channels, H, W], H and W at least 8 (made for 32x32)",
              "output": "logits [N, num_classes]", "input_shape": (3, 32, 32),
              "recipe": "zoo train resnet18_cifar --data cifar10 --optimizer sgd --lr 0.1 --schedule cosine --epochs 200"},
    )


@hookimpl
def register_datasets(register):
    register(
        "fashion_mnist",
        "zoo_example_plugin.data:fashion_mnist",
        task="classification",
        num_classes=10,
        class_names=FASHION_CLASSES,
        description="FashionMNIST, 28x28 grayscale clothing (IDX files; --download when online)",
    )
