"""ImageNet backbones for the course's transfer-learning lesson: ``vgg16`` (``zoo/models/vgg.py``), torchvision's
VGG16 with torchvision's published ImageNet weights (``vgg16.imagenet``: the URL and sha256 are pinned in
``weights/manifest.json``; downloaded into the cache on first use where the network allows).

Offline, the plugin ``zoo-timm`` (``plugins/zoo-timm``) brings ``efficientnet_lite0`` with ImageNet weights
that come in a pip package instead.

Registered as ``"module:function"`` strings: importing this module imports no torch or numpy.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.weights import shipped_manifest_path

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_PREPROCESSING", "register_models"]

#: torchvision's ImageNet normalisation (values scaled to 0..1).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: torchvision's ImageNet evaluation transform as data: shorter side to 256 (bilinear), centre crop 224.
IMAGENET_PREPROCESSING = {"channels": 3, "size": [224, 224], "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                          "resize": "bilinear", "crop_pct": 0.875}


@hookimpl
def register_models(register):
    register("vgg16", "zoo.models.vgg:vgg16", task="classification", weights=str(shipped_manifest_path()),
             tags=("imagenet", "cnn", "vgg", "course", "transfer-learning"),
             description="torchvision's VGG16 (ImageNet): the course's transfer-learning backbone; weights download once.",
             input="float32 [N, 3, 224, 224], ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225)",
             output="logits [N, num_classes] (1000 ImageNet classes by default)", input_shape=(3, 224, 224),
             output_shape=(1000,), head="classifier.6", preprocessing=IMAGENET_PREPROCESSING,
             dynamic_dims={2: "height", 3: "width"},
             recipe="zoo train vgg16 --init imagenet --freeze backbone -k num_classes=N --data imagefolder --root FOLDER")
