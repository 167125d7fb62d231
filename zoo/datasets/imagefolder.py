"""``imagefolder``: the user's own images in class folders, as torchvision's ``ImageFolder`` lays them out.

``--root`` is either

* ``ROOT/<class>/<image>``: split seeded and stratified into ``train``, ``val`` (``val_fraction``, 0.1) and
  ``test`` (``test_fraction``, 0.2), every class in every split; or
* ``ROOT/train/<class>/<image>`` with optionally ``ROOT/val/...`` and ``ROOT/test/...``: the split folders
  it has are used as they are, the ones it lacks are held out from ``train`` the same way.

The class names are the class folders' names, sorted (over all split folders, so label ``i`` means the
same everywhere); images may sit in subfolders of their class folder; hidden files and folders (``.name``),
what is not a regular file (FIFOs, sockets, devices: never opened; ``zoo.files.regular_files``) and plain
files directly in ``ROOT`` or a split folder are ignored. Every other file must be an image
(``zoo.preprocess.IMAGE_SUFFIXES``: PNG, JPEG, BMP, ...); one that is not is an error naming it, as are
an empty class folder and fewer than two classes.

Each image goes through ``preprocessing`` (a :meth:`zoo.preprocess.Preprocessing.to_dict`: the model's,
which ``zoo train`` and ``zoo eval`` pass): converted to its channels, resized to its size,
held as one ``uint8 [N, C, H, W]`` tensor and normalised with its mean/std batch by batch
(:class:`~zoo.datasets.common.ImageTensorDataset`, the trainer's fast path). Without one (no model known,
``zoo.get_dataset("imagefolder", root=...)``) the images keep their own size, which must then be the same
for all of them, and their own colour (3 channels when any image has colour, else 1), scaled to 0..1
(mean 0, std 1).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import torch

from zoo.datasets.common import ImageTensorDataset, check_split, held_out_positions
from zoo.errors import DataError
from zoo.files import regular_files
from zoo.preprocess import IMAGE_SUFFIXES, Preprocessing, image_header
from zoo.progress import progress
from zoo.splits import check_fractions

__all__ = ["imagefolder", "find_images"]

SPLITS = ("train", "val", "test")
#: Folders of this many images or more show a progress bar while they are decoded.
_PROGRESS_FROM = 2000


def imagefolder(split: str = "train", root: str | None = None, download: bool = False, *,
                preprocessing: dict | None = None, val_fraction: float = 0.1, test_fraction: float = 0.2,
                split_seed: int = 0) -> ImageTensorDataset:
    """The ``split`` (``train``, ``val`` or ``test``) of the image folder ``root`` (layouts in the module
    docstring): ``dataset[i] -> (float32 [C, H, W], int)``, ``dataset.class_names`` the folder names,
    ``dataset.files`` the image paths in item order (``dataset.preprocessing``: what was applied).
    ``download`` is accepted for a uniform signature and ignored: the images are the user's own."""
    check_split(split, SPLITS, "imagefolder")
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, what="dataset 'imagefolder'")
    tables = find_images(root)
    class_names = sorted({name for table in tables.values() for name in table})
    if len(class_names) < 2:
        where = Path(root) if "all" in tables else Path(root) / "train"
        found = f"one class folder ({class_names[0]!r})" if class_names else "no class folders"
        raise DataError(f"{where} has {found}: a classifier needs at least two, as ROOT/<class>/<image> "
                        "or ROOT/{train,val,test}/<class>/<image>")
    index = {name: i for i, name in enumerate(class_names)}
    if split in ("val", "test") and split in tables:  # the folder's own split
        files = [(path, index[name]) for name, paths in tables[split].items() for path in paths]
    else:  # the splits the folder lacks are held out from ROOT (or ROOT/train)
        base = "all" if "all" in tables else "train"
        pool = [(path, index[name]) for name, paths in tables[base].items() for path in paths]
        positions = held_out_positions([class_names[label] for _, label in pool], split, tables, val_fraction=val_fraction,
                                       test_fraction=test_fraction, split_seed=split_seed, what=f"image folder {root}")
        files = [pool[i] for i in positions]
    if preprocessing is not None:
        prep = Preprocessing.from_dict(preprocessing)
    else:
        prep = _own_preprocessing([path for table in tables.values() for paths in table.values() for path in paths])
    images = _decode(prep, [path for path, _ in files], f"imagefolder {split}")
    dataset = ImageTensorDataset(images, torch.tensor([label for _, label in files], dtype=torch.int64),
                                 mean=prep.mean, std=prep.std, class_names=class_names, resize=prep.resize, crop_pct=prep.crop_pct)
    dataset.files = [str(path) for path, _ in files]
    return dataset


def find_images(root: str | os.PathLike | None) -> dict[str, dict[str, list[Path]]]:
    """``{split: {class name: [image paths, sorted]}}`` with split ``"all"`` for the class layout, else the
    split folders present; a :class:`DataError` for a missing root, an empty class folder or a file that
    is not an image (by its suffix; :func:`_decode` names one that does not decode)."""
    if root is None:
        raise DataError("dataset 'imagefolder' needs --root: a folder of class folders (ROOT/<class>/<image>), "
                        "or of train/val/test folders of class folders")
    top = Path(root).expanduser()
    if not top.is_dir():
        raise DataError(f"imagefolder: {top} is not a folder" if top.exists() else f"imagefolder: {top} does not exist")
    if (top / "train").is_dir():
        return {split: _classes(top / split) for split in SPLITS if (top / split).is_dir()}
    return {"all": _classes(top)}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _classes(folder: Path) -> dict[str, list[Path]]:
    classes = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p)):
        if class_dir.is_symlink() and folder.resolve().is_relative_to(class_dir.resolve()):  # e.g. ROOT/a -> ROOT
            raise DataError(f"class folder {class_dir} is a link to {class_dir.resolve()}, which holds the image folder "
                            "itself: its images would be counted again as another class; remove the link")
        files = [Path(p) for p in regular_files(class_dir)]  # hidden ones, FIFOs, sockets and devices left out
        for path in files:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{path} is not an image (images end in {', '.join(IMAGE_SUFFIXES)}): "
                                "move it out of the image folder")
        if not files:
            raise DataError(f"class folder {class_dir} holds no images: add some or remove the folder")
        classes[class_dir.name] = files
    return classes


def _own_preprocessing(paths: list[Path]) -> Preprocessing:
    """The images' own size (all must share it) and colour, scaled to 0..1: read from the file headers only."""
    first: tuple[Path, tuple[int, int]] | None = None
    colour = False
    for path in paths:
        channels, height, width = image_header(path)  # a DataError naming an unreadable or too large file
        size = (height, width)
        colour = colour or channels == 3
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise DataError(f"the images differ in size ({first[0]} is {first[1][0]}x{first[1][1]}, {path} is "
                            f"{size[0]}x{size[1]}): without a model's preprocessing they must share one; pass the "
                            "model's (zoo train/eval do), or resize them")
    assert first is not None  # find_images refuses empty class folders
    channels = 3 if colour else 1
    return Preprocessing(channels=channels, size=first[1], mean=(0.0,) * channels, std=(1.0,) * channels)


def _decode(prep: Preprocessing, paths: list[Path], desc: str) -> torch.Tensor:
    """``uint8 [N, C, H, W]``: every image through ``prep.to_uint8``, decoded on a few threads (the decoders
    release the GIL); the first unreadable file is a :class:`DataError` naming it."""
    images = torch.empty(len(paths), prep.channels, *prep.size, dtype=torch.uint8)
    threads = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool, progress(total=len(paths), desc=desc, unit="image",
                                                       disable=len(paths) < _PROGRESS_FROM) as bar:
        for i, pixels in enumerate(pool.map(prep.to_uint8, paths)):
            images[i] = pixels
            bar.update(1)
    return images
