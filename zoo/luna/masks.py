"""Nodule masks DERIVED from annotations, not hand-drawn (the book's ``buildAnnotationMask``, p2ch13).

LUNA16 gives a centre and a diameter per nodule (``annotations.csv``), no voxel masks. :func:`derive_mask`
grows a box around each annotated centre, one axis at a time, while the voxels on the axis line at
``+/- r`` on both sides stay above -700 HU (starting at ``r = 2``; the first radius where one side is
not above is the box's half-width), then keeps the voxels of the boxes above -700 HU. One change from
the book at the volume's edge: a side that leaves the volume neither stops the growth nor wraps around
(the book's negative index read the far end of the scan and could leave an edge nodule without a
mask); the box is clipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import DataError

__all__ = ["MASK_THRESHOLD_HU", "MIN_RADIUS", "MASK_NOTE", "grow_radius", "derive_mask"]

MASK_THRESHOLD_HU = -700  # the book's threshold: nodule tissue is above it, lung parenchyma below
MIN_RADIUS = 2  # the book starts growing at +/- 2 voxels
MASK_NOTE = "masks derived from annotations.csv by box growth at -700 HU (the book's rule), not hand-drawn"


def grow_radius(line: np.ndarray, center: int, *, threshold_hu: float = MASK_THRESHOLD_HU, min_radius: int = MIN_RADIUS) -> int:
    """The book's half-width along one axis: the first ``r >= min_radius`` at which ``line[center - r]`` or
    ``line[center + r]`` is not above ``threshold_hu``. A side outside the line does not stop the growth
    (the other side decides); when both sides are outside, growth stops there."""
    n = len(line)
    stop = max(center, n - 1 - center) + 1  # both sides are outside from here on
    radii = np.arange(min_radius, max(stop, min_radius) + 1)
    lo, hi = center - radii, center + radii
    lo_in, hi_in = lo >= 0, hi < n
    above_lo = ~lo_in | (line[np.clip(lo, 0, n - 1)] > threshold_hu)
    above_hi = ~hi_in | (line[np.clip(hi, 0, n - 1)] > threshold_hu)
    grows = above_lo & above_hi & (lo_in | hi_in)
    return int(radii[np.argmin(grows)])  # the last radius never grows, so argmin finds the first stop


def derive_mask(
    hu: np.ndarray, centers_irc: Any, *, threshold_hu: float = MASK_THRESHOLD_HU, min_radius: int = MIN_RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """Nodule masks from centres, as the book's ``buildAnnotationMask``: ``(bool [index, row, column], boxes)``.

    ``hu`` is a scan ``[index, row, column]`` in HU, ``centers_irc`` int ``[K, 3]`` voxel centres inside it.
    Each box is grown with :func:`grow_radius` along the index, row and column lines through its centre;
    ``boxes`` is int64 ``[K, 2, 3]``: ``[start, stop)`` per box, clipped to the volume. The mask is the
    union of the boxes, restricted to voxels above ``threshold_hu``.
    """
    centers = np.asarray(centers_irc, dtype=np.int64).reshape(-1, 3)
    shape = np.asarray(hu.shape)
    outside = ((centers < 0) | (centers >= shape)).any(axis=1)
    if outside.any():
        raise DataError(f"nodule centres {centers[outside].tolist()} lie outside the scan's {shape.tolist()} voxels")
    mask = np.zeros(hu.shape, dtype=bool)
    boxes = np.zeros((len(centers), 2, 3), dtype=np.int64)
    for k, (i, r, c) in enumerate(centers):
        radius = np.array([grow_radius(hu[:, r, c], i, threshold_hu=threshold_hu, min_radius=min_radius),
                           grow_radius(hu[i, :, c], r, threshold_hu=threshold_hu, min_radius=min_radius),
                           grow_radius(hu[i, r, :], c, threshold_hu=threshold_hu, min_radius=min_radius)])
        boxes[k, 0] = np.maximum(centers[k] - radius, 0)
        boxes[k, 1] = np.minimum(centers[k] + radius + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(boxes[k, 0], boxes[k, 1]))
        mask[box] |= hu[box] > threshold_hu
    return mask, boxes
