"""``zoo/datasets/imagefolder.py``: a folder of class folders (PNG/JPEG, written here) split seeded and stratified,
the split folders it has used as they are, the model's preprocessing applied to images of another size and
colour (or the images' own kept), and one clear error per bad folder or option."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from zoo.errors import DataError
from zoo.preprocess import Preprocessing

from ..user_data import image_folder, write_image

GRAY_28 = {"channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.25], "resize": "bilinear"}


def test_a_class_too_small_to_split_names_the_class_and_the_folder(tmp_path):
    # The split itself is tests/test_splits.py's; here: the user's data reaches it with the class names.
    root = image_folder(tmp_path / "imgs", {"a": 10, "c": 2})
    with pytest.raises(DataError, match=r"image folder .*imgs: class 'c' has 2 item\(s\), too few for 1 test \+ 1 val"):
        zoo.get_dataset("imagefolder", root=str(root), preprocessing=GRAY_28)
    with pytest.raises(DataError, match=r"imgs: the val split is empty \(val_fraction=0\)"):
        zoo.get_dataset("imagefolder", split="val", root=str(root), preprocessing=GRAY_28, val_fraction=0, test_fraction=0.5)


def test_imagefolder_splits_a_class_layout_seeded_and_stratified(tmp_path):
    root = image_folder(tmp_path / "pets", {"dog": 10, "cat": 20})
    splits = {s: zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val", "test")}
    assert all(d.class_names == ("cat", "dog") for d in splits.values())  # the folder names, sorted
    assert {s: torch.bincount(d.labels).tolist() for s, d in splits.items()} == {"train": [14, 7], "val": [2, 1], "test": [4, 2]}
    files = [set(d.files) for d in splits.values()]
    assert set.union(*files) == {str(p) for p in root.rglob("*.png")} and sum(map(len, files)) == 30
    assert all(Path(f).parent.name == d.class_names[int(label)] for d in splits.values() for f, label in zip(d.files, d.labels))
    again = zoo.get_dataset("imagefolder", split="test", root=str(root), preprocessing=GRAY_28)
    assert again.files == splits["test"].files
    other = zoo.get_dataset("imagefolder", split="test", root=str(root), preprocessing=GRAY_28, split_seed=1, test_fraction=0.5)
    assert other.files != splits["test"].files and len(other) == 15


def test_imagefolder_uses_the_split_folders_it_has_and_holds_out_the_others(tmp_path):
    root = tmp_path / "data"
    image_folder(root / "train", {"a": 10, "b": 10})
    image_folder(root / "test", {"a": 2, "b": 3})
    (root / "README.txt").write_text("ignored: plain files beside the split folders")
    train, val, test = (zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (18, 2, 5)
    assert all("/test/" in f for f in test.files) and all("/train/" in f for f in train.files + val.files)
    image_folder(root / "val", {"a": 1, "b": 1})
    train, val = (zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val"))
    assert (len(train), len(val)) == (20, 2) and all("/val/" in f for f in val.files)


def test_imagefolder_applies_the_models_preprocessing_to_images_of_another_size_and_colour(tmp_path):
    root = tmp_path / "imgs"
    image_folder(root, {"x": 3}, size=(30, 40), mode="RGB")
    image_folder(root, {"y": 3}, size=(8, 8), mode="L", suffix=".jpg")
    data = zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28, val_fraction=0.2, test_fraction=0.2)
    prep = Preprocessing.from_dict(GRAY_28)
    assert data.images.shape == (2, 1, 28, 28) and data.images.dtype == torch.uint8
    for i, path in enumerate(data.files):
        assert torch.equal(data.images[i], prep.to_uint8(path))
        assert torch.allclose(data[i][0], prep(path))  # normalised with the preprocessing's mean/std
    assert data.preprocessing.to_dict() == GRAY_28
    inputs, labels = data.batch(torch.tensor([1, 0]))  # the trainer's fast path
    assert inputs.shape == (2, 1, 28, 28) and labels.tolist() == [int(data.labels[1]), int(data.labels[0])]


def test_imagefolder_keeps_how_the_images_were_resized_for_the_run_that_trains_on_them(tmp_path):
    """ImageNet-style preprocessing (bicubic, crop_pct) is what the data set says it applied, whole: a run records it
    in its weights, so `zoo eval`/`zoo predict` on those weights resize images as training did (it once came back
    as plain bilinear without the crop, and `zoo eval` of the lesson's run gave 0.9833 against training's 0.9917)."""
    photo = {"channels": 3, "size": [24, 24], "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "bicubic", "crop_pct": 0.875}
    root = tmp_path / "imgs"
    image_folder(root, {"x": 5, "y": 5}, size=(20, 36), mode="RGB")
    data = zoo.get_dataset("imagefolder", split="test", root=str(root), preprocessing=photo, val_fraction=0.2, test_fraction=0.2)
    assert data.preprocessing.to_dict() == photo
    prep = Preprocessing.from_dict(photo)
    assert all(torch.equal(data.images[i], prep.to_uint8(path)) for i, path in enumerate(data.files))


def test_imagefolder_without_a_model_keeps_the_images_own_size_and_colour(tmp_path):
    root = image_folder(tmp_path / "gray", {"a": 3, "b": 3}, size=(6, 9), mode="L")
    data = zoo.get_dataset("imagefolder", split="test", root=str(root))
    assert data.images.shape == (2, 1, 6, 9) and data.preprocessing.mean == (0.0,)
    assert 0 <= float(data[0][0].min()) and float(data[0][0].max()) <= 1  # scaled to 0..1
    write_image(root / "b" / "colour.png", size=(6, 9), mode="RGB")
    assert zoo.get_dataset("imagefolder", split="test", root=str(root)).images.shape[1:] == (3, 6, 9)
    write_image(root / "b" / "big.png", size=(7, 9))
    with pytest.raises(DataError, match=r"the images differ in size \(.* is 6x9, .*big.png is 7x9\)"):
        zoo.get_dataset("imagefolder", split="test", root=str(root))


@pytest.mark.parametrize("make, message", [
    (lambda r: image_folder(r, {"only": 4}), r"has one class folder \('only'\): a classifier needs at least two"),
    (lambda r: image_folder(r / "train", {"only": 4}), r"train has one class folder"),
    (lambda r: (image_folder(r, {"a": 4}), (r / "b").mkdir()), r"class folder .*/b holds no images"),
    (lambda r: (image_folder(r, {"a": 4, "b": 4}), (r / "b" / "notes.txt").write_text("x")), r"b/notes.txt is not an image \(images end in"),
    (lambda r: ([image_folder(r / s, {"a": 2, "b": 2}) for s in ("train", "val", "test")], (r / "train" / "a" / "broken.png").write_bytes(b"not a png")),
     r"train/a/broken.png: not an image file PIL can read"),
    (lambda r: r.mkdir(), r"has no class folders"),
])
def test_imagefolder_bad_folders_are_one_clear_error(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(DataError, match=message):
        zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28)


def test_imagefolder_ignores_hidden_files_and_checks_its_options(tmp_path):
    root = image_folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / ".DS_Store").write_bytes(b"\0\0")
    (root / ".cache").mkdir()
    assert len(zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28)) == 4
    with pytest.raises(DataError, match=r"val_fraction=0.7 \+ test_fraction=0.3 leaves nothing for training"):
        zoo.get_dataset("imagefolder", root=str(root), val_fraction=0.7, test_fraction=0.3)
    with pytest.raises(DataError, match="needs --root"):
        zoo.get_dataset("imagefolder")
    with pytest.raises(DataError, match="does not exist"):
        zoo.get_dataset("imagefolder", root=str(tmp_path / "nowhere"))



def test_imagefolder_leaves_out_special_files_and_names_a_bomb_with_or_without_a_model(tmp_path):
    from tests.test_bad_input_images import BOMB, png_header, special_file, without_hanging

    root = image_folder(tmp_path / "d", {"a": 4, "b": 4})
    fifo = special_file(root / "a" / "fifo.png", "fifo")  # opening it would wait for a writer
    special_file(root / "b" / "null.png", "device")
    for preprocessing in (GRAY_28, None):  # the model's, or the images' own read from their headers
        data = without_hanging(lambda: zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=preprocessing),
                               [fifo], seconds=30)
        assert len(data) == 4 and not any(f.endswith(("fifo.png", "null.png")) for f in data.files)
    (root / "b" / "huge.png").write_bytes(png_header(20000, 20000))
    for preprocessing in (GRAY_28, None):
        with pytest.raises(DataError) as raised:
            [zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=preprocessing) for s in ("train", "val", "test")]
        assert str(raised.value) == f"{root / 'b' / 'huge.png'}: {BOMB}"
