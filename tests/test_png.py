"""``zoo/png.py``: the fast reader of plain PNG files gives PIL's pixels, or steps aside (``None``) for every file it
does not fully understand, which ``zoo.preprocess.load_image`` then gives to ``Image.open``."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.png import PNG_SIGNATURE, decode_png


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(header: bytes, pixels: bytes = b"\x00" * 20) -> bytes:
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


GOOD = png(struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))


def test_the_fast_png_reader_gives_pils_pixels_or_steps_aside(tmp_path):
    rng = np.random.default_rng(3)
    read = 0
    for mode in ("L", "RGB", "RGBA", "LA", "P"):
        for shape in ((1, 1), (7, 13), (40, 33)):
            for options in ({}, {"optimize": True}, {"compress_level": 0}):
                Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).convert(mode).save(tmp_path / "x.png", **options)
                fast = decode_png((tmp_path / "x.png").read_bytes(), 10**8)
                with Image.open(tmp_path / "x.png") as reference:
                    if fast is not None:
                        read += 1
                        expected = np.asarray(reference.convert("L" if mode in ("L", "LA") else "RGB"))
                        assert fast.dtype == torch.uint8 and fast.shape == (1 if mode in ("L", "LA") else 3, *shape)
                        assert np.array_equal(fast.permute(1, 2, 0).numpy().reshape(expected.shape), expected), (mode, shape, options)
    assert read == 36  # all but the palette images
    data = (tmp_path / "x.png").read_bytes()
    assert decode_png(data[: len(data) // 2], 10**8) is None and decode_png(b"GIF89a", 10**8) is None


@pytest.mark.parametrize("data", [
    GOOD[:31],  # cut inside the header chunk's CRC: was a struct.error
    GOOD[: len(GOOD) - 2],  # the end chunk's CRC cut short
    PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBB", 4, 4, 8, 0, 0, 0)) + chunk(b"IEND", b""),  # IHDR of 12 bytes
    png(struct.pack(">IIBBBBB", 4, 4, 8, 0, 1, 0, 0)),  # a compression method PNG does not define
    png(struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 1, 0)),  # a filter method PNG does not define (PIL refuses it)
    png(struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 1)),  # interlaced: PIL's job
    png(struct.pack(">IIBBBBB", 0, 4, 8, 0, 0, 0, 0)),  # no pixels
], ids=["ihdr-crc-cut", "iend-crc-cut", "ihdr-12-bytes", "compression-1", "filter-method-1", "interlaced", "zero-width"])
def test_a_png_it_does_not_fully_understand_is_left_to_pil(data):
    assert decode_png(data, 10**8) is None


def test_a_png_over_the_limit_is_left_to_pil_undecoded():
    assert decode_png(GOOD, 16) is not None and decode_png(GOOD, 15) is None
    assert torch.equal(decode_png(GOOD, 16), torch.zeros(1, 4, 4, dtype=torch.uint8))
