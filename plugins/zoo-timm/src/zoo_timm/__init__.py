"""The plugin module named by the entry point: hook implementations only.

The factory is registered as a ``"module:function"`` string and the weights as a manifest path, so
``zoo list`` reads one JSON file and never imports timm or torch through this plugin.
"""

from pathlib import Path

from zoo import hookimpl

#: The weights entries of this plugin (``efficientnet_lite0.imagenet``, ``.fashion``) and their files.
MANIFEST = Path(__file__).parent / "weights" / "manifest.json"

#: ImageNet's input rule: the shorter side resized (bicubic) to 224 / 0.875 = 256, the centre 224x224 cut out.
IMAGENET_PREPROCESSING = {"channels": 3, "size": [224, 224], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                          "resize": "bicubic", "crop_pct": 0.875}


@hookimpl
def register_models(register):
    register(
        "efficientnet_lite0",
        "zoo_timm.models:efficientnet_lite0",
        task="classification",
        description="EfficientNet-Lite0 (timm), ImageNet-pretrained: the backbone for transfer learning on photos.",
        weights=str(MANIFEST),
        tags=("efficientnet", "imagenet", "timm", "transfer-learning"),
        input="float32 [N, 3, H, W] (ImageNet weights: 224x224, values scaled to 0..1 then mean 0.5, std 0.5)",
        output="logits [N, num_classes] (1000 ImageNet classes by default)",
        input_shape=(3, 224, 224),
        head=("classifier",),
        preprocessing=IMAGENET_PREPROCESSING,
        dynamic_dims={2: "height", 3: "width"},
        recipe="zoo train efficientnet_lite0 --init imagenet --freeze backbone -k num_classes=N --data imagefolder --root FOLDER",
    )
