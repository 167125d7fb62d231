"""`zoo.preprocess` and `zoo.get_preprocess`: an image file, PIL image, array or tensor becomes exactly the tensor the
data set gives for the same pixels (digits, CIFAR-10 written by the test), with grayscale <-> RGB and resizing;
the preprocessing travels in the manifest, the safetensors metadata and the run report."""

from __future__ import annotations

import dataclasses
import functools
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.datasets.common import ImageTensorDataset
from zoo.errors import DataError, WeightsError, ZooError
from zoo.png import decode_png
from zoo.preprocess import Preprocessing, image_header, load_image, max_image_pixels, resize_and_crop_uint8
from zoo.weights import read_manifest, shipped_manifest_path

MNIST = Preprocessing(channels=1, size=(28, 28), mean=(0.1307,), std=(0.3081,))


@pytest.fixture(scope="module")
def digits():
    return zoo.get_dataset("digits", split="test")


# ----------------------------------------------------------------------------------- the data set's own tensors


def test_digits_images_give_the_data_sets_tensors_from_every_kind_of_source(digits, tmp_path):
    prep = zoo.get_preprocess("mnist_cnn.digits")
    assert prep == digits.preprocessing == MNIST
    for i in (0, 1, 100, 358):
        expected, pixels = digits[i][0], digits.images[i]  # float32 [1, 28, 28], uint8 [1, 28, 28]
        Image.fromarray(pixels[0].numpy()).save(tmp_path / "d.png")
        Image.fromarray(pixels[0].numpy()).save(tmp_path / "d.bmp")
        sources = [pixels, pixels[0], pixels.permute(1, 2, 0), pixels[0].numpy(), pixels.permute(1, 2, 0).numpy(),
                   Image.fromarray(pixels[0].numpy()), tmp_path / "d.png", str(tmp_path / "d.bmp")]
        for source in sources:
            got = prep(source)
            assert got.dtype == torch.float32 and got.shape == (1, 28, 28)
            assert torch.equal(got, expected), type(source)
    batch = prep.normalize(digits.images[:7])
    assert torch.equal(batch, torch.stack([digits[i][0] for i in range(7)]))


def _cifar_like(tmp_path, n=6, seed=0):
    from zoo.datasets.cifar import write_cifar10_folder

    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 10
    write_cifar10_folder(tmp_path, (images, labels), (images, labels))
    return zoo.get_dataset("cifar10", split="test", root=str(tmp_path), verify_md5=False)


def test_rgb_images_give_the_cifar10_tensors(tmp_path):
    data = _cifar_like(tmp_path)
    prep = zoo.get_preprocess("cifar_net")  # no weights: the model's registration
    assert prep == data.preprocessing and prep.channels == 3 and prep.size == (32, 32)
    for i in range(len(data)):
        hwc = data.images[i].permute(1, 2, 0).numpy()
        Image.fromarray(hwc).save(tmp_path / f"{i}.png")
        Image.fromarray(hwc).save(tmp_path / f"{i}.bmp")
        Image.fromarray(np.dstack([hwc, np.full(hwc.shape[:2], 200, np.uint8)])).save(tmp_path / f"{i}-rgba.png")
        for source in (tmp_path / f"{i}.png", tmp_path / f"{i}.bmp", tmp_path / f"{i}-rgba.png", hwc, data.images[i]):
            assert torch.equal(prep(source), data[i][0]), source


def test_colour_becomes_gray_as_pil_does_and_gray_becomes_colour_by_repeating(tmp_path, digits):
    rgb = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    gray = np.array(Image.fromarray(rgb).convert("L"))
    assert torch.equal(MNIST.to_uint8(tmp_path / "rgb.png"), torch.from_numpy(gray)[None])
    assert torch.equal(MNIST(tmp_path / "rgb.png"), MNIST(gray))
    colour = Preprocessing(channels=3, size=(28, 28), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    pixels = colour.to_uint8(digits.images[0])
    assert pixels.shape == (3, 28, 28) and all(torch.equal(pixels[c], digits.images[0][0]) for c in range(3))


def test_other_sizes_are_resized_antialiased(tmp_path):
    from torchvision.transforms import v2

    big = np.random.default_rng(1).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(big).save(tmp_path / "big.png")
    out = MNIST.to_uint8(tmp_path / "big.png")
    assert out.shape == (1, 28, 28) and out.dtype == torch.uint8
    gray = torch.from_numpy(np.array(Image.fromarray(big).convert("L")))[None]
    assert torch.equal(out, v2.Resize((28, 28), antialias=True)(gray))  # torchvision's uint8 resize, as it runs it
    through_float = v2.Resize((28, 28), antialias=True)(gray.float()).round().clamp(0, 255).to(torch.uint8)
    assert (out.int() - through_float.int()).abs().max() <= 1  # integer weights: rounding apart from float32
    assert MNIST.to_uint8(tmp_path / "big.jpg").shape == (1, 28, 28)
    flat = np.full((10, 13), 77, np.uint8)  # a constant image stays constant, up- or down-sized, any mode
    for mode in ("bilinear", "bicubic", "nearest"):
        prep = Preprocessing(channels=1, size=(28, 28), mean=(0.0,), std=(1.0,), resize=mode)
        assert torch.equal(prep.to_uint8(flat), torch.full((1, 28, 28), 77, dtype=torch.uint8))


# ------------------------------------------------------------------------------------------ reading images


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "1", "I;16"])
def test_load_image_reads_every_png_mode_as_pil_does(tmp_path, mode):
    rng = np.random.default_rng(2)
    if mode == "I;16":
        wide = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
        Image.fromarray(wide).save(tmp_path / "x.png")
        assert torch.equal(load_image(tmp_path / "x.png")[0], torch.from_numpy(((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)))
        return
    image = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).convert(mode)
    image.save(tmp_path / "x.png")
    pixels = load_image(tmp_path / "x.png")
    channels = 1 if mode in ("L", "LA", "1") else 3
    reference = np.asarray(Image.open(tmp_path / "x.png").convert("L" if channels == 1 else "RGB"))
    assert pixels.dtype == torch.uint8 and pixels.shape == (channels, 9, 11)
    assert np.array_equal(pixels.permute(1, 2, 0).numpy().reshape(reference.shape), reference)


def test_arrays_in_other_layouts_and_types():
    chw = torch.randint(0, 256, (3, 5, 6), dtype=torch.uint8)
    assert torch.equal(load_image(chw.permute(1, 2, 0).numpy()), chw)  # numpy: [H, W, C]
    assert torch.equal(load_image(chw.permute(1, 2, 0).contiguous()), chw)  # a tensor that cannot be [C, H, W]
    assert torch.equal(load_image(chw.numpy()), chw)  # numpy [C, H, W]: W > 4, so not [H, W, C]
    assert torch.equal(load_image(np.ones((4, 5), dtype=bool)), torch.full((1, 4, 5), 255, dtype=torch.uint8))
    assert torch.equal(load_image(np.full((4, 5), 0.5)), torch.full((1, 4, 5), 128, dtype=torch.uint8))
    assert load_image(np.zeros((5, 6, 4), np.uint8)).shape == (3, 5, 6)  # RGBA: alpha dropped


@pytest.mark.parametrize("source, message", [
    (np.zeros((2, 3, 4, 5), np.uint8), "is not an image"),
    (np.zeros((8, 9, 10), np.uint8), "is not an image"),
    (np.full((3, 3), 2.0), "must lie in 0..1"),
    (np.zeros((3, 3), np.int64), "pixels of type int64"),
    (np.zeros((0, 3), np.uint8), "no pixels"),
    ("no/such/file.png", "no/such/file.png: no such file"),
    (3.5, "cannot read an image from float"),
])
def test_what_is_not_an_image_is_one_clear_error(source, message):
    with pytest.raises(DataError, match=message):
        load_image(source)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    for name, data in (("notes.png", b"hello"), ("scan.jpg", b"\xff\xd8\xff" + bytes(20)), ("empty.bmp", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=f"{tmp_path / name}: (not an image|cannot be read)"):
            MNIST(tmp_path / name)
    with pytest.raises(DataError, match=f"{tmp_path} is a folder: expected an image file"):
        load_image(tmp_path)


# ------------------------------------------------------------------- what the one reader refuses before decoding


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_a_special_file_is_refused_without_being_opened(tmp_path, kind):
    from tests.test_bad_input_images import WHAT, special_file, without_hanging

    path = special_file(tmp_path / f"x.{'png' if kind == 'fifo' else 'jpg'}", kind)
    for read in (load_image, image_header):
        with pytest.raises(DataError, match=rf"x\.\w+ is {re.escape(WHAT[kind])}, not a regular file: expected an image file"):
            without_hanging(lambda: read(path), [path], seconds=30)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    from tests.test_bad_input_images import BOMB, bmp_header, jpeg_header, png_header

    def decode(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    monkeypatch.setattr(Image, "frombytes", decode)
    for name, data in (("a.png", png_header(20000, 20000)), ("b.jpg", jpeg_header(20000, 20000)), ("c.bmp", bmp_header(20000, 20000))):
        (tmp_path / name).write_bytes(data)
        for read in (load_image, image_header):
            with pytest.raises(DataError) as raised:
                read(tmp_path / name)
            assert str(raised.value) == f"{tmp_path / name}: {BOMB}"
        assert decode_png(png_header(20000, 20000), max_image_pixels()) is None  # steps aside for Image.open's header, not decoded


def test_the_pixel_limit_is_pils_default_or_the_environments_and_the_only_one(tmp_path, monkeypatch):
    Image.new("RGB", (40, 30)).save(tmp_path / "x.bmp")  # 1,200 pixels, read by PIL
    Image.new("L", (40, 30)).save(tmp_path / "x.png")  # read by the fast PNG reader
    assert max_image_pixels() == Image.MAX_IMAGE_PIXELS == 89_478_485
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # PIL's own check: off while the reader reads a header
    assert load_image(tmp_path / "x.bmp").shape == (3, 30, 40) and Image.MAX_IMAGE_PIXELS == 500
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "1199")
    for name in ("x.bmp", "x.png"):
        with pytest.raises(DataError, match=f"x.{name[2:]}: image is 40x30 = 1,200 pixels, more than the limit of 1,199; "):
            load_image(tmp_path / name)
    assert decode_png((tmp_path / "x.png").read_bytes(), max_image_pixels()) is None  # over the limit: left to PIL
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "1200")
    assert max_image_pixels() == 1200 and load_image(tmp_path / "x.png").shape == (1, 30, 40)
    assert image_header(tmp_path / "x.bmp") == (3, 30, 40)
    for bad in ("lots", "-1", "0", "1e9"):
        monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(DataError, match=f"ZOO_MAX_IMAGE_PIXELS='{bad}' is not valid: expected a number of pixels"):
            max_image_pixels()


def test_float_pixels_follow_one_rule_from_a_file_a_pil_image_an_array_and_a_tensor(tmp_path):
    values = np.linspace(0, 1, 5 * 6, dtype=np.float32).reshape(5, 6)
    expected = torch.from_numpy(np.rint(values.astype(np.float64) * 255).astype(np.uint8))[None]
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    with Image.open(tmp_path / "f.tif") as image:
        assert image.mode == "F"
        for source in (tmp_path / "f.tif", image, np.asarray(image), torch.from_numpy(values)):
            assert torch.equal(load_image(source), expected), type(source)
    assert image_header(tmp_path / "f.tif") == (1, 5, 6)
    Image.fromarray(values * 255, mode="F").save(tmp_path / "f255.tif")
    with Image.open(tmp_path / "f255.tif") as image:
        for source in (tmp_path / "f255.tif", image, np.asarray(image), torch.from_numpy(values * 255)):
            with pytest.raises(DataError, match="float pixel values must lie in 0..1; these run from 0 to 255"):
                load_image(source)


# -------------------------------------------------------------------------------------------------- as data


def test_to_dict_and_from_dict_round_trip_through_json():
    prep = Preprocessing(channels=3, size=(32, 40), mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2), resize="bicubic")
    assert Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict()))) == prep
    assert Preprocessing.from_dict({"channels": 1, "size": [28, 28], "mean": [0.1], "std": [0.3]}).resize == "bilinear"


@pytest.mark.parametrize("change, message", [
    ({"channels": 2}, "'channels' must be 1 or 3"),
    ({"size": [28]}, "'size' must be two positive integers"),
    ({"size": [28, 0]}, "'size' must be two positive integers"),
    ({"mean": [0.1, 0.2]}, "'mean' needs one value per channel"),
    ({"std": [0.0]}, "'std' must be positive"),
    ({"std": ["a"]}, "'std' must hold finite numbers"),
    ({"resize": "lanczos"}, "'resize' must be one of"),
    ({"colour": "red"}, "unknown field\\(s\\) \\['colour'\\]"),
    ({"mean": None}, "'mean' must be a list"),
])
def test_from_dict_names_the_bad_field(change, message):
    data = {**MNIST.to_dict(), **change}
    with pytest.raises(DataError, match=message):
        Preprocessing.from_dict(data)
    with pytest.raises(DataError, match="missing field\\(s\\) \\['std'\\]"):
        Preprocessing.from_dict({k: v for k, v in MNIST.to_dict().items() if k != "std"})


#: Each image data set's preprocessing, written out here rather than read from the code or the manifest.
DATA_SET_PREPROCESSING = {
    "digits": MNIST,  # the digits are normalised as MNIST is, so that MNIST models take them
    "mnist": MNIST,
    "fashion_mnist": Preprocessing(channels=1, size=(28, 28), mean=(0.2860,), std=(0.3530,)),
}
SHIPPED = read_manifest(shipped_manifest_path())


@functools.cache
def _test_split(name: str):
    """The data set's test split, read once; skips the test when the data is not on this machine."""
    try:
        return zoo.get_dataset(name, split="test")
    except ZooError:  # Fashion-MNIST without its Debian package
        pytest.skip(f"{name} is not on this machine (Fashion-MNIST: apt-get install dataset-fashion-mnist), "
                    "so the data set's own preprocessing was not compared")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_manifest_entries_carry_their_data_sets_preprocessing(name):
    """The manifest's preprocessing is the values written above, and (where the data is here) what the data set
    itself gives: the tensors a model was trained on."""
    from zoo.plugins import get_registry

    spec = SHIPPED[name]
    if get_registry().model(spec.arch).task != "classification" or spec.arch.startswith("luna_"):
        assert spec.preprocessing is None  # texts (the tokenizer is the preprocessing), CT scans
        return
    prep = Preprocessing.from_dict(spec.preprocessing)
    if spec.dataset == "imagenet-1k":  # published weights (vgg16.imagenet): the registration's ImageNet rule
        assert prep == Preprocessing.from_dict(get_registry().model(spec.arch).preprocessing) and prep.crop_pct == 0.875
        return
    assert prep == DATA_SET_PREPROCESSING[spec.dataset]
    assert zoo.get_preprocess(name) == prep
    assert _test_split(spec.dataset).preprocessing == prep


def test_fashion_mnist_mean_and_std_are_its_pixel_statistics():
    """The constants are Fashion-MNIST's train-set figures; its test split's pixels are within 0.002 of them."""
    pixels = _test_split("fashion_mnist").images.to(torch.float32) / 255
    expected = DATA_SET_PREPROCESSING["fashion_mnist"]
    assert float(pixels.mean()) == pytest.approx(expected.mean[0], abs=2e-3)
    assert float(pixels.std()) == pytest.approx(expected.std[0], abs=2e-3)


def test_a_manifest_entry_with_bad_preprocessing_is_refused(tmp_path):
    raw = json.loads(shipped_manifest_path().read_text())
    entry = {**raw["mnist_cnn.digits"], "preprocessing": "mean 0.13"}
    (tmp_path / "manifest.json").write_text(json.dumps({"mnist_cnn.digits": entry}))
    with pytest.raises(WeightsError, match="preprocessing must be a JSON object or null"):
        read_manifest(tmp_path / "manifest.json")


def test_get_preprocess_reads_a_weights_files_metadata(tmp_path):
    from zoo.models.mnist import mnist_cnn
    from zoo.runs import TrainConfig, weights_metadata
    from zoo.state_dicts import save_state_dict

    fashion = Preprocessing(channels=1, size=(28, 28), mean=(0.286,), std=(0.353,))
    config = TrainConfig(model="mnist_cnn", data="digits", model_kwargs={"n_feature": 4})
    path = tmp_path / "model.safetensors"
    save_state_dict(mnist_cnn(n_feature=4), path, metadata=weights_metadata(config, preprocessing=fashion.to_dict(),
                                                                           class_names=list("abcdefghij")))
    assert zoo.get_preprocess(str(path)) == fashion
    assert zoo.get_preprocess("mnist_cnn", weights=str(path)) == fashion
    assert zoo.api.describe_weights(str(path))["class_names"] == tuple("abcdefghij")
    save_state_dict(mnist_cnn(n_feature=4), path, metadata=weights_metadata(config))  # an older file: the model's own
    assert zoo.get_preprocess(str(path)) == MNIST


def test_models_without_image_preprocessing_say_why():
    with pytest.raises(ZooError, match="text model: its tokenizer"):
        zoo.get_preprocess("lstm_sentiment")
    with pytest.raises(ZooError, match="CT voxels in HU from a .mhd scan"):
        zoo.get_preprocess("luna_classifier")


def test_image_tensor_datasets_declare_their_preprocessing():
    data = ImageTensorDataset(torch.zeros(2, 3, 5, 7, dtype=torch.uint8), torch.zeros(2), mean=(0.1, 0.2, 0.3),
                              std=(0.4, 0.5, 0.6), class_names=("a",))
    assert data.preprocessing == Preprocessing(channels=3, size=(5, 7), mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))


# ---------------------------------------------------------------------------- train -> report -> manifest -> card


@pytest.mark.slow
def test_training_records_the_train_sets_preprocessing_and_pinning_and_publishing_carry_it(tmp_path, digits):
    from zoo.pin import pin_run
    from zoo.runs import TrainConfig
    from zoo.train import train
    from zoo.weights import read_metadata

    run = tmp_path / "run"
    train(TrainConfig(model="mnist_mlp", data="digits", epochs=1, out=str(run), progress=False))
    expected = digits.preprocessing.to_dict()
    assert json.loads((run / "report.json").read_text())["preprocessing"] == expected
    meta = read_metadata(run / "model.safetensors")
    assert json.loads(meta["preprocessing"]) == expected and json.loads(meta["class_names"]) == list(digits.class_names)
    assert zoo.get_preprocess(str(run / "model.safetensors")) == digits.preprocessing
    spec = pin_run(run, tag="digits_unit", manifest=tmp_path / "weights" / "manifest.json")
    assert spec.preprocessing == expected
    assert read_manifest(tmp_path / "weights" / "manifest.json")["mnist_mlp.digits_unit"].preprocessing == expected
    report = json.loads((run / "report.json").read_text())
    del report["preprocessing"]  # a run from before reports recorded it: pinning asks its data set again
    (run / "report.json").write_text(json.dumps(report))
    assert pin_run(run, tag="digits_old", manifest=tmp_path / "weights" / "manifest.json").preprocessing == expected

    pytest.importorskip("huggingface_hub")
    from zoo.hub import stage

    staged = stage("mnist_mlp", str(run / "model.safetensors"), tmp_path / "staged", repo_id="org/mlp")
    assert json.loads((staged / "config.json").read_text())["zoo"]["preprocessing"] == expected
    assert "- Preprocessing: 1 channel(s), resized to 28x28 (bilinear)" in (staged / "README.md").read_text()


@pytest.mark.parametrize("height, width", [(427, 640), (640, 427), (100, 100), (20, 300)])
def test_crop_pct_resizes_the_shorter_side_then_cuts_the_centre_as_torchvision_does(height, width):
    """ImageNet's rule (``crop_pct=0.875``: shorter side to 256, centre 224x224) against torchvision's v2 tensor
    transforms on the same uint8 pixels; a small image is enlarged first, so none is too small to crop."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    pixels = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    prep = Preprocessing(channels=3, size=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, resize="bicubic", crop_pct=0.875)
    ours = prep.to_uint8(pixels)
    theirs = TF.center_crop(TF.resize(pixels, 256, interpolation=InterpolationMode.BICUBIC, antialias=True), [224, 224])
    assert ours.shape == theirs.shape == (3, 224, 224)
    assert torch.equal(ours, theirs)  # the same uint8 kernel as torchvision runs on uint8 tensors
    assert Preprocessing.from_dict(prep.to_dict()) == prep and prep.to_dict()["crop_pct"] == 0.875
    assert "crop_pct" not in Preprocessing(channels=1, size=(28, 28), mean=(0.5,), std=(0.5,)).to_dict()


@pytest.mark.parametrize("crop_pct", [0, 1.5, "0.9", True])
def test_a_bad_crop_pct_is_refused(crop_pct):
    with pytest.raises(DataError, match="'crop_pct' must be a fraction in"):
        Preprocessing(channels=3, size=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=crop_pct)


IMAGENET = Preprocessing(channels=3, size=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, resize="bicubic", crop_pct=0.875)


@pytest.mark.parametrize("width, height, decoded", [
    (1366, 1024, (512, 683)),    # needs 256x341: at least 4x in both sides, decoded at 1/2 (still 2x the need)
    (1364, 1023, (1023, 1364)),  # one row short of 4x: decoded whole
    (4032, 3024, (756, 1008)),   # a phone photo: 1/4 (1/8 would be under 2x)
    (3000, 700, (700, 3000)),    # the shorter side decides (needs 256x1097)
])
def test_a_large_jpeg_is_decoded_at_a_reduced_scale_down_to_twice_the_size_needed(tmp_path, width, height, decoded):
    gradient = np.linspace(0, 255, width * height * 3).reshape(height, width, 3).astype(np.uint8)
    Image.fromarray(gradient).save(tmp_path / "x.jpg", quality=90)
    Image.fromarray(gradient).save(tmp_path / "x.png")
    assert tuple(load_image(tmp_path / "x.jpg", needed_size=IMAGENET.resized_size).shape) == (3, *decoded)
    assert tuple(load_image(tmp_path / "x.jpg").shape) == (3, height, width)  # asked for nothing: whole
    assert tuple(load_image(tmp_path / "x.png", needed_size=IMAGENET.resized_size).shape) == (3, height, width)  # JPEG only
    reduced = resize_and_crop_uint8(load_image(tmp_path / "x.jpg", needed_size=IMAGENET.resized_size), (224, 224), 0.875, "bicubic")
    assert torch.equal(IMAGENET.to_uint8(tmp_path / "x.jpg"), reduced)  # to_uint8 reads it so
    nearest = dataclasses.replace(IMAGENET, resize="nearest")  # picks pixels: never from a reduced decode
    assert torch.equal(nearest.to_uint8(tmp_path / "x.jpg"), resize_and_crop_uint8(load_image(tmp_path / "x.jpg"), (224, 224), 0.875, "nearest"))


def test_a_stretched_preprocessing_reduces_a_jpeg_too_and_the_pixel_limit_still_holds_first(tmp_path, monkeypatch):
    Image.fromarray(np.full((120, 112), 90, np.uint8)).save(tmp_path / "x.jpg")  # 112x120 for 28x28: 1/2
    assert tuple(load_image(tmp_path / "x.jpg", needed_size=MNIST.resized_size).shape) == (1, 60, 56)
    assert torch.equal(MNIST.to_uint8(tmp_path / "x.jpg"), torch.full((1, 28, 28), 90, dtype=torch.uint8))
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", str(112 * 120 - 1))
    with pytest.raises(DataError, match="112x120 = 13,440 pixels, more than the limit of 13,439"):
        MNIST.to_uint8(tmp_path / "x.jpg")


@pytest.mark.parametrize("size", [(2000, 1500), (1500, 2000), (4032, 3024)])
def test_a_reduced_decode_gives_pixels_within_a_few_levels_of_the_full_decode(tmp_path, size):
    """Real photos (scikit-learn's two, enlarged to camera sizes): after the resize and crop, the reduced decode's
    pixels differ from the full decode's by 0.14-0.27 levels on average and by at most 4."""
    photos = pytest.importorskip("sklearn.datasets").load_sample_images().images
    for pixels in photos:
        Image.fromarray(pixels).resize(size, Image.BICUBIC).save(tmp_path / "photo.jpg", quality=90)
        assert load_image(tmp_path / "photo.jpg", needed_size=IMAGENET.resized_size).shape[1] < min(size)
        full = resize_and_crop_uint8(load_image(tmp_path / "photo.jpg"), (224, 224), 0.875, "bicubic")
        difference = (IMAGENET.to_uint8(tmp_path / "photo.jpg").int() - full.int()).abs()
        assert difference.float().mean() < 0.5 and difference.max() <= 8


def test_a_decoded_image_is_read_in_place_and_the_result_is_contiguous(tmp_path):
    """A decoded ``[H, W, C]`` image is viewed as ``[C, H, W]`` without a copy (channels-last strides, what the
    uint8 resize reads); flipped arrays (negative strides) are still read; ``to_uint8`` returns contiguous pixels."""
    rgb = np.random.default_rng(5).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.bmp")
    pixels = load_image(tmp_path / "x.bmp")
    assert torch.equal(pixels, torch.from_numpy(rgb).permute(2, 0, 1)) and pixels.stride() == (1, 40 * 3, 3)
    flipped = rgb[::-1, ::-1]
    assert torch.equal(load_image(flipped), torch.from_numpy(flipped.copy()).permute(2, 0, 1))
    out = IMAGENET.to_uint8(tmp_path / "x.bmp")
    assert out.shape == (3, 224, 224) and out.is_contiguous()


def test_the_description_says_how_an_image_is_resized_and_cut():
    assert IMAGENET.describe() == "3 channel(s), the shorter side resized to 256 (bicubic), the centre 224x224 cut out"
    assert MNIST.describe() == "1 channel(s), resized to 28x28 (bilinear)"
