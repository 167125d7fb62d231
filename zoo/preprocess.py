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
``nearest``), then rounded back to uint8.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from zoo.errors import DataError

__all__ = ["Preprocessing", "load_image", "IMAGE_SUFFIXES", "RESIZE_MODES"]

#: File suffixes read as images (lower case), for finding images in folders.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
RESIZE_MODES = ("bilinear", "bicubic", "nearest")
_FIELDS = ("channels", "size", "mean", "std", "resize")
#: PIL's RGB -> L weights (Convert.c, ``L24``): 0.299, 0.587, 0.114 in 16-bit fixed point, rounded.
_LUMA = (19595, 38470, 7471)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types read without Image.open (8 bits each): gray, RGB, gray+alpha, RGBA -> (PIL mode, channels).
_PNG_MODES = {0: ("L", 1), 2: ("RGB", 3), 4: ("LA", 2), 6: ("RGBA", 4)}


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
    resize: str = "bilinear"  # how a differently sized image is brought to `size` (antialiased)

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
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    # ------------------------------------------------------------------ as data
    def to_dict(self) -> dict:
        """JSON-able: ``{"channels", "size": [H, W], "mean": [...], "std": [...], "resize"}``."""
        return {"channels": self.channels, "size": list(self.size), "mean": list(self.mean), "std": list(self.std),
                "resize": self.resize}

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
        """Any image :func:`load_image` reads -> ``uint8 [channels, H, W]``: colour/grayscale converted, resized to ``size``."""
        pixels = load_image(image)
        if pixels.shape[0] == 3 and self.channels == 1:
            pixels = rgb_to_gray(pixels)
        elif pixels.shape[0] == 1 and self.channels == 3:
            pixels = pixels.expand(3, -1, -1)
        if tuple(pixels.shape[1:]) != self.size:
            pixels = resize_uint8(pixels, self.size, self.resize)
        return pixels.contiguous()

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
    """``uint8 [C, h, w]`` -> ``uint8 [C, *size]``; antialiased (bilinear, bicubic) when shrinking, rounded."""
    x = pixels[None].to(torch.float32)
    if mode == "nearest":
        x = F.interpolate(x, size=size, mode="nearest-exact")
    else:
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    return x[0].round_().clamp_(0, 255).to(torch.uint8)


def _array_to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """Pixel values as uint8: uint8 as is, bool as 0/255, 16-bit integers scaled (x / 257), floats in 0..1 times 255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:  # 16-bit images (PNG modes I;16, I)
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise DataError(f"{what}: float pixel values must lie in 0..1")
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
    """A PIL image -> ``[H, W]`` or ``[H, W, C]`` array: palette, bilevel, CMYK and YCbCr images become L or RGB."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode in ("1", "F"):
        image = image.convert("L")
    elif mode.startswith("I"):  # 16-bit grayscale (I;16, I;16B, or I holding 0..65535)
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    elif mode not in ("L", "LA", "RGB", "RGBA", "RGBX"):
        image = image.convert("RGB")
    return np.asarray(image)


def _decode_png(data: bytes) -> torch.Tensor | None:
    """A plain PNG (8 bits, gray, gray+alpha, RGB or RGBA, not interlaced) as ``uint8 [C, H, W]`` (C 1 or 3, alpha
    dropped), decoded by PIL's own zlib/unfilter decoder without ``Image.open``'s format detection and chunk
    objects, which dominate for small images (28x28: about 3x faster); ``None`` for anything else (palette,
    16-bit, interlaced, a bad CRC, not a PNG), which then goes through ``Image.open``. The pixels are the ones
    ``Image.open`` gives."""
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos, header, idat, kind = 8, None, [], b""
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunk = data[pos + 8 : pos + 8 + length]
        if len(chunk) != length or struct.unpack_from(">I", data, pos + 8 + length)[0] != zlib.crc32(kind + chunk):
            return None
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or kind != b"IEND" or header[2] != 8 or header[3] not in _PNG_MODES or header[6] != 0 or not header[0] * header[1]:
        return None
    (width, height), (mode, channels) = header[:2], _PNG_MODES[header[3]]
    try:
        raw = Image.frombytes(mode, (width, height), b"".join(idat), "zip", mode, 0).tobytes()
    except (ValueError, OSError):
        return None
    pixels = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    if channels == 1:
        return pixels.view(1, height, width)
    return pixels.view(height, width, channels).permute(2, 0, 1)[: 1 if channels == 2 else 3]


def _read_bytes(path: str) -> bytes:
    """The file's bytes through ``os.read``: a third of ``open(path, "rb").read()``'s time for small files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_file(path: str) -> np.ndarray | torch.Tensor:
    """Decode an image file with PIL: an array as PIL gives it, or for plain PNGs ``uint8 [C, H, W]`` already
    (:func:`_decode_png`); a missing file or one that is not an image is a ``DataError`` naming it."""
    try:
        if path[-4:].lower() == ".png":
            decoded = _decode_png(_read_bytes(path))
            if decoded is not None:
                return decoded
        with Image.open(path) as image:
            image.load()
            return _pil_to_array(image)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder, not an image file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = "not an image file PIL can read" if isinstance(exc, UnidentifiedImageError) else f"cannot be read as an image ({exc})"
        raise DataError(f"{path}: {reason}") from None


def load_image(source: Any) -> torch.Tensor:
    """A path (PNG, JPEG, BMP, ... as PIL reads them), a PIL image, a numpy array or a tensor
    (``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``) -> ``uint8 [C, H, W]`` with C in {1, 3}.

    Arrays are read as ``[H, W, C]`` and tensors as ``[C, H, W]`` when both readings are possible.
    RGBA, gray+alpha and palette images lose their alpha; 16-bit images are scaled to 8 bits; a file that
    is not an image is a ``DataError`` naming it.
    """
    channels_first = False
    if isinstance(source, (str, os.PathLike)):
        what = os.fspath(source)
        array = _read_file(what)
        if isinstance(array, torch.Tensor):
            return array
    elif isinstance(source, torch.Tensor):
        what, channels_first = "image tensor", True
        if source.dtype == torch.uint8 and source.dim() == 3 and source.shape[0] in (1, 3):
            return source
        array = source.detach().cpu().numpy()
    elif isinstance(source, np.ndarray):
        what, array = "image array", source
    elif hasattr(source, "mode") and hasattr(source, "getbands"):  # a PIL image, without importing PIL to ask
        what, array = "PIL image", _pil_to_array(source)
    else:
        raise DataError(f"cannot read an image from {type(source).__name__} (expected a path, a PIL image, an array or a tensor)")
    array = _layout(_array_to_uint8(np.asarray(array), what), channels_first, what)
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())
