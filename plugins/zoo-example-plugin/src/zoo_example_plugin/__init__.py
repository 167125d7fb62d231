"""The plugin module named by the entry point: hook implementations only.

Factories are registered as "module:function" strings, so `zoo list` never imports torchvision's
model code through this plugin.
"""

from zoo import hookimpl

#: Kuzushiji-MNIST's labels 0..9: ten hiragana, romanised as torchvision's KMNIST names them.
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@hookimpl
def register_models(register):
    register(
        "resnet18_cifar",
        "zoo_example_plugin.models:resnet18_cifar",
        task="classification",
        description="ResNet-18 (torchvision) with a 3x3 stride-1 stem and no max-pool, for 32x32 images.",
        tags=("resnet", "cifar10", "example-plugin"),
        input="float32 [N, in_channels, H, W], H and W at least 8 (made for 32x32)",
        output="logits [N, num_classes]",
        input_shape=(3, 32, 32),
        head="fc",
        recipe="zoo train resnet18_cifar --data cifar10 --optimizer sgd --lr 0.1 --schedule cosine --epochs 200",
    )


@hookimpl
def register_datasets(register):
    register(
        "kmnist",
        "zoo_example_plugin.data:kmnist",
        task="classification",
        num_classes=10,
        class_names=KMNIST_CLASSES,
        description="Kuzushiji-MNIST, 28x28 grayscale cursive Japanese characters (IDX files; --download when online)",
    )
