"""A model's input preprocessing as data (:class:`Preprocessing`) and one image reader (:func:`load_image`).

A :class:`Preprocessing` says what a vision model takes: ``channels`` (1 or 3), ``size`` ``(H, W)``, and
the per-channel ``mean``/``std`` of pixel values scaled to 0..1 (``uint8 / 255``). It travels with the
weights (manifest entry, safetensors metadata, ``config.json``) as :meth:`Preprocessing.to_dict`, and
turns any image into the ``float32 [C, H, W]`` tensor the model was trained on::

    prep = Preprocessing(channels=1, size=(28, 28), mean=(0.1307,), std=(0.3081,))
    x = prep("digit.png")              # float32 [1, 28, 28]
    batch = prep.normalize(uint8_batch)  # uint8 [N, 1, 28, 28] -> float32, as the data sets do

The arithmetic is the data sets' own (``ImageTensorDataset.normalize``): ``(x - mean * 255) / (std * 255)``
in float32, so an image a data set holds gives exactly that data set's tensor. Colour becomes grayscale as
PIL's ``"L"`` mode does (ITU-R 601-2 luma: ``(19595 R + 38470 G + 7471 B + 2**15) >> 16``); grayscale becomes
colour by repeating the channel; an alpha channel is dropped (as ``PIL.Image.convert("RGB")`` does). An
image of another size is resized to ``size`` (stretched: the aspect ratio is not kept) with ``resize``
(``bilinear`` or ``bicubic``, antialiased when shrinking, as torchvision's ``Resize(antialias=True)``; or
``nearest``), then rounded back to uint8. A JPEG file at least four times the size it is resized to is decoded
at 1/2, 1/4 or 1/8 of its size first, never under twice that size (:func:`load_image`'s ``needed_size``; not
with ``nearest``, which picks pixels rather than averaging them).

Image files are read by :func:`load_image` only (and their headers by :func:`image_header`): regular files,
never a FIFO, socket or device; at most :func:`max_image_pixels` pixels (``$ZOO_MAX_IMAGE_PIXELS``, else PIL's
default), checked from the header before decoding; float pixels in 0..1 only.
"""

from __future__ import annotations

import io
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from zoo.errors import DataError, first_line
from zoo.files import MAX_IMAGE_PIXELS_VARIABLE, open_regular_file
from zoo.png import decode_png

__all__ = ["Preprocessing", "load_image", "image_header", "max_image_pixels", "IMAGE_SUFFIXES", "RESIZE_MODES"]

#: PIL's own default limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485), read once: the reader turns PIL's check
#: off while it reads a header (see :func:`_open_header`), so the live value may be ``None`` for a moment.
_DEFAULT_MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_PIL_LIMIT_LOCK = threading.Lock()

#: File suffixes read as images (lower case), for finding images in folders.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
RESIZE_MODES = ("bilinear", "bicubic", "nearest")
_FIELDS = ("channels", "size", "mean", "std", "resize", "crop_pct")
#: PIL's RGB -> L weights (Convert.c, ``L24``): 0.299, 0.587, 0.114 in 16-bit fixed point, rounded.
_LUMA = (19595, 38470, 7471)
#: Formats that PIL can decode at a reduced scale (``Image.draft``): JPEG, and MPO (cameras' multi-picture JPEG).
_DRAFT_FORMATS = ("JPEG", "MPO")
#: A JPEG is decoded at a reduced scale only down to this many times the size needed (PIL's ``Image.thumbnail``
#: keeps the same gap, its ``reducing_gap=2``): the antialiased resize that follows then smooths away most of what
#: the scaled decoder does differently (its blocks are low-passed one by one, its colour planes scaled apart).
#: Down to 1x the reader is faster again, but changes more labels (BENCHMARKS.md, "`zoo predict` on a folder
#: of JPEG photos", gives both).
_DRAFT_GAP = 2


def _number_tuple(value: Any, field: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise DataError(f"preprocessing: {field!r} must be a list of numbers, got {value!r}")
    numbers = tuple(value)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        raise DataError(f"preprocessing: {field!r} must hold finite numbers, got {list(numbers)!r}")
    return tuple(float(v) for v in numbers)


@dataclass(frozen=True)
class Preprocessing:
    """What a model's input must be: `channels` (1 or 3), `size` (H, W), `mean`/`std` per channel of values scaled to 0..1 (uint8 / 255)."""

    channels: int
    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: How a differently sized image is brought to ``size``: ``bilinear`` and ``bicubic`` antialiased (torchvision's
    #: ``BILINEAR``/``BICUBIC`` with ``antialias=True``), ``nearest`` as torchvision's ``NEAREST_EXACT`` (each output
    #: pixel takes the input pixel under its centre; torchvision's ``NEAREST`` rounds the other way at half-pixels).
    resize: str = "bilinear"
    #: ``None``: stretch to ``size``. A fraction in (0, 1] (ImageNet: 0.875): keep the aspect ratio, resize the
    #: shorter side to ``size / crop_pct`` (224 -> 256), then cut out the centre ``size`` (timm's ``crop_pct``).
    crop_pct: float | None = None

    def __post_init__(self) -> None:
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise DataError(f"preprocessing: 'channels' must be 1 or 3, got {self.channels!r}")
        size = _number_tuple(self.size, "size")
        if len(size) != 2 or not all(v == int(v) and v > 0 for v in size):
            raise DataError(f"preprocessing: 'size' must be two positive integers (H, W), got {self.size!r}")
        mean, std = _number_tuple(self.mean, "mean"), _number_tuple(self.std, "std")
        for field, values in (("mean", mean), ("std", std)):
            if len(values) != self.channels:
                raise DataError(f"preprocessing: {field!r} needs one value per channel ({self.channels}), got {list(values)}")
        if not all(s > 0 for s in std):
            raise DataError(f"preprocessing: 'std' must be positive, got {list(std)}")
        if self.resize not in RESIZE_MODES:
            raise DataError(f"preprocessing: 'resize' must be one of {list(RESIZE_MODES)}, got {self.resize!r}")
        if self.crop_pct is not None and not (isinstance(self.crop_pct, (int, float)) and not isinstance(self.crop_pct, bool)
                                              and 0 < self.crop_pct <= 1):
            raise DataError(f"preprocessing: 'crop_pct' must be a fraction in (0, 1] or null, got {self.crop_pct!r}")
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    # ------------------------------------------------------------------ as data
    def to_dict(self) -> dict:
        """JSON-able: ``{"channels", "size": [H, W], "mean": [...], "std": [...], "resize"}`` (and ``"crop_pct"`` when set)."""
        data = {"channels": self.channels, "size": list(self.size), "mean": list(self.mean), "std": list(self.std),
                "resize": self.resize}
        return data if self.crop_pct is None else {**data, "crop_pct": float(self.crop_pct)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Preprocessing":
        """The inverse of :meth:`to_dict`; a ``DataError`` naming the missing, unknown or bad field otherwise."""
        if not isinstance(data, Mapping):
            raise DataError(f"preprocessing must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise DataError(f"preprocessing: unknown field(s) {unknown}; expected {list(_FIELDS)}")
        missing = [f for f in _FIELDS[:4] if f not in data]
        if missing:
            raise DataError(f"preprocessing: missing field(s) {missing}")
        return cls(**{k: data[k] for k in _FIELDS if k in data})

    # ------------------------------------------------------------------ images
    def to_uint8(self, image: Any) -> torch.Tensor:
        """Any image :func:`load_image` reads -> ``uint8 [channels, H, W]``: colour/grayscale converted, resized to ``size``.
        A JPEG file at least four times the size it is resized to is decoded at a reduced scale (see :func:`load_image`)."""
        pixels = load_image(image, needed_size=None if self.resize == "nearest" else self.resized_size)
        if pixels.shape[0] == 3 and self.channels == 1:
            pixels = rgb_to_gray(pixels)
        elif pixels.shape[0] == 1 and self.channels == 3:
            pixels = pixels.expand(3, -1, -1)
        if self.crop_pct is not None:
            _check_resized_pixels(image, pixels.shape[1:], self.resized_size(*pixels.shape[1:]))
            pixels = resize_and_crop_uint8(pixels, self.size, self.crop_pct, self.resize)
        elif tuple(pixels.shape[1:]) != self.size:
            pixels = resize_uint8(pixels, self.size, self.resize)
        return pixels.contiguous()

    def describe(self) -> str:
        """One phrase for people (``zoo info``, model cards), e.g. ``"3 channel(s), the shorter side resized to 256
        (bicubic), the centre 224x224 cut out"`` or ``"1 channel(s), resized to 28x28 (bilinear)"``."""
        (height, width), side = self.size, None if self.crop_pct is None else math.floor(max(self.size) / self.crop_pct)
        if side is None:
            return f"{self.channels} channel(s), resized to {height}x{width} ({self.resize})"
        return f"{self.channels} channel(s), the shorter side resized to {side} ({self.resize}), the centre {height}x{width} cut out"

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H, W)`` an image of ``height`` x ``width`` pixels is resized to before any crop: ``size``, or with
        ``crop_pct`` the shorter side at ``floor(max(size) / crop_pct)`` and the aspect ratio kept."""
        if self.crop_pct is None:
            return self.size
        return _shorter_side_to(height, width, math.floor(max(self.size) / self.crop_pct))

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8 [N, C, H, W]`` or ``[C, H, W]`` -> normalised ``float32`` of the same shape (on the images' device)."""
        if images.dim() not in (3, 4) or images.shape[-3] != self.channels:
            raise DataError(f"expected uint8 [N, {self.channels}, H, W] or [{self.channels}, H, W], got {tuple(images.shape)}")
        # The data sets' arithmetic (ImageTensorDataset), step for step, so the results are bit-identical.
        shape = (self.channels, 1, 1)
        mean = (torch.tensor(self.mean, dtype=torch.float32).view(shape) * 255).to(images.device)
        std = (torch.tensor(self.std, dtype=torch.float32).view(shape) * 255).to(images.device)
        return (images.to(torch.float32) - mean) / std

    def __call__(self, image: Any) -> torch.Tensor:
        """``normalize(to_uint8(image))``: ``float32 [channels, H, W]``."""
        return self.normalize(self.to_uint8(image))


# ---------------------------------------------------------------------- conversions
def rgb_to_gray(pixels: torch.Tensor) -> torch.Tensor:
    """``uint8 [3, H, W]`` -> ``uint8 [1, H, W]`` exactly as ``PIL.Image.convert("L")``."""
    rgb = pixels.to(torch.int32)
    luma = (rgb[0] * _LUMA[0] + rgb[1] * _LUMA[1] + rgb[2] * _LUMA[2] + (1 << 15)) >> 16
    return luma.to(torch.uint8)[None]


def resize_uint8(pixels: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """``uint8 [C, h, w]`` -> ``uint8 [C, *size]`` (channels-last in memory); antialiased (bilinear, bicubic) when shrinking.

    PyTorch's own uint8 kernels, as torchvision's ``Resize`` runs them on uint8 tensors: the pixels in
    channels-last order (how a decoded ``[H, W, C]`` image already lies), integer weights, each pass rounded
    and clamped to 0..255 (as PIL does). For a 1280x960 RGB photo to 341x256 bicubic that takes 1 ms on one
    core, against 10 ms through float32 (BENCHMARKS.md, issue 25); the pixels differ from the float32 path's
    by 0.1 levels on average (at most 3 on photos)."""
    x = pixels[None].contiguous(memory_format=torch.channels_last)  # a decoded image already lies so: no copy
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest-exact")[0]
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)[0]


def resize_and_crop_uint8(pixels: torch.Tensor, size: tuple[int, int], crop_pct: float, mode: str = "bicubic") -> torch.Tensor:
    """``uint8 [C, h, w]`` -> ``uint8 [C, *size]`` the ImageNet way (torchvision's ``Resize(int)`` then
    ``CenterCrop``): the shorter side resized to ``floor(max(size) / crop_pct)`` keeping the aspect ratio (a
    small image is enlarged), then the centre cut out."""
    h, w = pixels.shape[1:]
    new = _shorter_side_to(h, w, math.floor(max(size) / crop_pct))
    if new != (h, w):
        pixels = resize_uint8(pixels, new, mode)
    top, left = int(round((new[0] - size[0]) / 2.0)), int(round((new[1] - size[1]) / 2.0))
    return pixels[:, top : top + size[0], left : left + size[1]]


def _check_resized_pixels(image: Any, size: tuple[int, int], resized: tuple[int, int]) -> None:
    """Resizing with the aspect ratio kept (``crop_pct``) enlarges a thin image along its long side too: a 1x60000
    strip for a 224x224 model would be 256x15,360,000 (47 GB of floats) before its centre is cut out. Past
    :func:`max_image_pixels` (the limit the file itself was read under) that is one error naming the image."""
    limit = max_image_pixels()
    if resized[0] * resized[1] > limit:
        what = os.fspath(image) if isinstance(image, (str, os.PathLike)) else "image"
        raise DataError(f"{what}: image is {size[1]}x{size[0]}; resized for this model with its aspect ratio kept it would "
                        f"be {resized[1]}x{resized[0]} = {resized[0] * resized[1]:,} pixels, more than the limit of "
                        f"{limit:,}; crop it to a less extreme shape, or raise the limit with --max-image-pixels or "
                        f"{MAX_IMAGE_PIXELS_VARIABLE}")


def _shorter_side_to(height: int, width: int, side: int) -> tuple[int, int]:
    """``(H, W)`` with the shorter side ``side`` and the aspect ratio of ``height`` x ``width`` kept (torchvision's ``Resize(int)``)."""
    return (side, max(int(side * width / height), 1)) if height <= width else (max(int(side * height / width), 1), side)


def _array_to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """Pixel values as uint8: uint8 as is, bool as 0/255, 16-bit integers scaled (x / 257), floats in 0..1 times 255
    (rounded); floats outside 0..1, NaN or infinite are refused rather than clipped or rescaled: whether 0..255,
    0..65535 or -1..1 was meant cannot be told from the pixels."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:  # 16-bit images (PNG modes I;16, I)
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not np.isfinite(array).all():
            raise DataError(f"{what}: float pixel values must be finite numbers in 0..1; these include NaN or infinity")
        if array.size and (array.min() < 0 or array.max() > 1):
            raise DataError(f"{what}: float pixel values must lie in 0..1; these run from {array.min():g} to {array.max():g} "
                            "(scale them to 0..1, or save the image with 8- or 16-bit integer pixels)")
        return np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    raise DataError(f"{what}: pixels of type {array.dtype} are not an image (expected uint8, uint16, bool or float in 0..1)")


def _layout(array: np.ndarray, channels_first: bool, what: str) -> np.ndarray:
    """``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` (C of 1..4) -> ``[C, H, W]`` with C in {1, 3}."""
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3:
        first, last = array.shape[0] <= 4, array.shape[2] <= 4
        if not (first or last):
            raise DataError(f"{what}: shape {list(array.shape)} is not an image ([H, W], [H, W, C] or [C, H, W], C of 1 to 4)")
        if not (first and channels_first) and last:
            array = array.transpose(2, 0, 1)  # numpy and PIL lay colour out last
    else:
        raise DataError(f"{what}: shape {list(array.shape)} is not an image ([H, W], [H, W, C] or [C, H, W])")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise DataError(f"{what}: an image with no pixels ({list(array.shape)})")
    if array.shape[0] in (2, 4):
        array = array[:-1]  # drop alpha
    return array


def _pil_to_array(image: Any) -> np.ndarray:
    """A PIL image -> ``[H, W]`` or ``[H, W, C]`` array: palette, bilevel, CMYK and YCbCr images become L or RGB;
    32-bit float images (mode ``F``, float TIFFs) stay float, for :func:`_array_to_uint8`'s one rule (0..1)."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I"):  # 16-bit grayscale (I;16, I;16B, or I holding 0..65535)
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    elif mode not in ("L", "LA", "RGB", "RGBA", "RGBX", "F"):
        image = image.convert("RGB")
    return np.asarray(image)


def max_image_pixels() -> int:
    """The most pixels (width x height) an image file may declare to be read: ``$ZOO_MAX_IMAGE_PIXELS`` (which
    ``zoo predict/train/eval --max-image-pixels N`` sets for the command), else PIL's default limit, 89,478,485
    (``PIL.Image.MAX_IMAGE_PIXELS``). A larger image is refused from its header, before anything is decoded: a
    1 MB PNG may declare 20000x20000 pixels, 1.2 GB decoded. A bad value is a ``DataError``."""
    value = os.environ.get(MAX_IMAGE_PIXELS_VARIABLE, "").strip()
    if not value:
        return _DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise DataError(f"{MAX_IMAGE_PIXELS_VARIABLE}={value!r} is not valid: expected a number of pixels of at least 1")
    return limit


@contextmanager
def _pil_limit_off() -> Iterator[None]:
    """PIL's own decompression-bomb check (``Image.MAX_IMAGE_PIXELS``) off meanwhile, under a lock so that the
    reader's threads never restore PIL's value out of order; :func:`max_image_pixels` is checked instead."""
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _load(image: Any) -> None:
    """``image.load()``; for an image above PIL's own limit (allowed by a raised :func:`max_image_pixels`) with
    PIL's check off, since some formats (TIFF, GIF frames) check it again while decoding."""
    with _PIL_LIMIT_LOCK:  # PIL's own value, not one another thread has switched off for a moment
        limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        with _pil_limit_off():  # one such image at a time: rare, and each is large
            image.load()
    else:
        image.load()


def _open_header(file: Any, path: str, limit: int) -> Any:
    """PIL's lazy open of ``file`` (its header only: nothing is decoded yet), refused when it declares more than
    ``limit`` pixels, in one message naming ``path``. PIL's own check (a warning above ``Image.MAX_IMAGE_PIXELS``,
    an error without the image's size above twice that) is off meanwhile, so that this limit is the one that
    holds, lowered or raised; the lock keeps the reader's threads from restoring PIL's value out of order."""
    with _pil_limit_off():
        image = Image.open(file)
    width, height = image.size
    if width * height > limit:
        image.close()
        raise DataError(f"{path}: image is {width}x{height} = {width * height:,} pixels, more than the limit of {limit:,}; "
                        f"raise it with --max-image-pixels or {MAX_IMAGE_PIXELS_VARIABLE}")
    return image


def _read_bytes(fd: int) -> bytes:
    """The file's bytes through ``os.read``: a third of ``open(path, "rb").read()``'s time for small files."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _with_image_file(path: str, read: Callable[[int], Any]) -> Any:
    """``read(fd)`` on the image file ``path``, opened only if it is a regular file (:func:`zoo.files.open_regular_file`:
    never a FIFO, socket or device) and closed after; what PIL or the file system say of it is a ``DataError``
    naming it."""
    fd = open_regular_file(path, "an image file")
    try:
        return read(fd)
    except DataError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        reason = "not an image file PIL can read" if isinstance(exc, UnidentifiedImageError) else f"cannot be read as an image ({exc})"
        raise DataError(f"{path}: {reason}") from None
    finally:
        os.close(fd)


def _read_file(path: str, needed_size: Callable[[int, int], tuple[int, int]] | None = None) -> np.ndarray | torch.Tensor:
    """Decode an image file with PIL: an array as PIL gives it, or for plain PNGs ``uint8 [C, H, W]`` already
    (:func:`zoo.png.decode_png`). Its size is checked against :func:`max_image_pixels` from its header, before any
    pixel is decoded; a missing file, a special file, one that is not an image and one too large are each a
    ``DataError`` naming it (:func:`_with_image_file`). ``needed_size``: see :func:`load_image`."""
    limit = max_image_pixels()

    def read(fd: int) -> np.ndarray | torch.Tensor:
        if path[-4:].lower() == ".png":
            data = _read_bytes(fd)
            decoded = decode_png(data, limit)
            if decoded is not None:
                return decoded
            source: Any = io.BytesIO(data)
        else:
            source = os.fdopen(fd, "rb", closefd=False)
        with _open_header(source, path, limit) as image:
            if needed_size is not None and image.format in _DRAFT_FORMATS:
                height, width = needed_size(image.height, image.width)
                # PIL picks the smallest of 1/2, 1/4, 1/8 that keeps both sides at least the size asked for (or none).
                image.draft(None, (_DRAFT_GAP * width, _DRAFT_GAP * height))
            _load(image)
            return _pil_to_array(image)

    return _with_image_file(path, read)


def image_header(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(channels, height, width)`` of the image file ``path`` as :func:`load_image` reads it (channels 1 or 3),
    from its header only (nothing decoded), with :func:`load_image`'s checks: a regular file, an image, within
    :func:`max_image_pixels`."""
    path, limit = os.fspath(path), max_image_pixels()

    def read(fd: int) -> tuple[int, int, int]:
        with _open_header(os.fdopen(fd, "rb", closefd=False), path, limit) as image:
            gray = image.mode in ("1", "L", "LA", "F") or image.mode.startswith("I")
            return (1 if gray else 3), image.height, image.width

    return _with_image_file(path, read)


def load_image(source: Any, *, needed_size: Callable[[int, int], tuple[int, int]] | None = None) -> torch.Tensor:
    """A path (PNG, JPEG, BMP, ... as PIL reads them), a PIL image, a numpy array or a tensor
    (``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``) -> ``uint8 [C, H, W]`` with C in {1, 3}. A decoded colour image
    keeps PIL's ``[H, W, C]`` memory order (a channels-last view, not contiguous): call ``.contiguous()`` for
    channels-first memory. A ``uint8 [C, H, W]`` tensor is returned as it is, not copied.

    Arrays are read as ``[H, W, C]`` and tensors as ``[C, H, W]`` when both readings are possible.
    RGBA, gray+alpha and palette images lose their alpha; 16-bit images are scaled to 8 bits. Float pixels
    (float arrays and tensors, float TIFFs: PIL mode ``F``), from a file or not, follow one rule: values in
    [0, 1] are intensities, scaled by 255 and rounded; values outside [0, 1], NaN or infinite are a
    ``DataError`` (never clipped: 0..255 floats would turn white, -1..1 would lose half the range).

    This is the one reader of the user's image files (``zoo predict``, ``imagefolder``): a path that is not a
    regular file (a folder, FIFO, socket, device) is refused without being opened, and an image that declares
    more than :func:`max_image_pixels` pixels is refused from its header, before it is decoded; these and a
    file that is not an image are a one-line ``DataError`` naming the file.

    ``needed_size``, for the callers that shrink the image next (:meth:`Preprocessing.to_uint8`): a function of
    the file's ``(height, width)``, from its header, giving the smallest ``(height, width)`` they need. A JPEG
    file at least four times that in both sides is then decoded at 1/2, 1/4 or 1/8 of its size, the smallest
    that keeps both sides at least twice the needed ones (libjpeg's scaled IDCT, through ``PIL.Image.draft``).
    For a 224x224 ImageNet model, reading and resizing a 4032x3024 photo then takes 25 ms instead of 279, with
    pixels 0.16 levels from the whole decode's on average (BENCHMARKS.md). Other formats, and smaller JPEGs,
    are decoded whole.
    """
    channels_first = False
    if isinstance(source, (str, os.PathLike)):
        what = os.fspath(source)
        array = _read_file(what, needed_size)
        if isinstance(array, torch.Tensor):
            return array
    elif isinstance(source, torch.Tensor):
        what, channels_first = "image tensor", True
        if source.dtype == torch.uint8 and source.dim() == 3 and source.shape[0] in (1, 3) and source[0].numel():
            return source
        # half and bfloat16 pixels, which numpy lacks, as float32 (the 0..1 rule below applies to them all)
        array = (source.float() if source.is_floating_point() else source).detach().cpu().numpy()
    elif isinstance(source, np.ndarray):
        what, array = "image array", source
    elif hasattr(source, "mode") and hasattr(source, "getbands"):  # a PIL image, without importing PIL to ask
        what = "PIL image"
        try:  # a lazily opened image decodes here: a cut file, or a mode PIL cannot convert
            array = _pil_to_array(source)
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"PIL image: cannot be read ({first_line(exc)})") from None
    else:
        raise DataError(f"cannot read an image from {type(source).__name__} (expected a path, a PIL image, an array or a tensor)")
    array = _layout(_array_to_uint8(np.asarray(array), what), channels_first, what)
    if any(stride < 0 for stride in array.strides):  # e.g. a flipped array, which torch cannot view
        array = np.ascontiguousarray(array)
    # A decoded [H, W, C] image stays in that order in memory (a channels-last view): the resize reads it so.
    return torch.from_numpy(array if array.flags.writeable else array.copy(order="K"))
