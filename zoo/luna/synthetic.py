"""A synthetic LUNA16-like data set: real MetaImage scans and CSV files, for tests, demos and the default.

:func:`synthesize` draws every scan from one seeded generator, in a fixed order of steps (frame,
anatomy, vessels, specks, nodules, noise and field of view, then the CSV rows), so a seed always gives
the same files.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from zoo.errors import DataError
from zoo.luna.annotations import write_csv
from zoo.luna.family import CROP_SIZE
from zoo.luna.geometry import CtGeometry, simpleitk

__all__ = ["SYNTHETIC_MARKER", "synthesize"]

SYNTHETIC_MARKER = "SYNTHETIC.json"  # written into the root of every synthetic set


def synthesize(
    root: str | os.PathLike,
    n_scans: int = 8,
    *,
    seed: int = 0,
    shape: Sequence[int] = (48, 128, 128),
    nodules_per_scan: tuple[int, int] = (2, 6),
    negatives_per_scan: int = 40,
    malignant_fraction: float = 0.4,
    n_subsets: int | None = None,
) -> Path:
    """Write a synthetic LUNA16-like set into ``root`` (new or empty) and return ``root``.

    Each scan is a real MetaImage (``subsetK/<uid>.mhd`` + ``.raw``, int16 HU) of ``shape`` voxels
    ``(index, row, column)`` with a non-trivial origin, anisotropic spacing (square pixels of 0.6-0.9 mm,
    slices of 1.25-2.5 mm) and a rotated, non-symmetric direction matrix; a body of soft tissue in air
    with a -3024 HU field-of-view border (as scanners write), two lungs of -850 HU with texture, vessels
    and small calcified specks; and spherical nodules: benign ones 4-12 mm, smooth, about 0 HU;
    malignant ones 9-22 mm, denser and spiculated. ``candidates.csv`` lists 1-2 candidates per nodule
    (class 1) and ``negatives_per_scan`` non-nodules (class 0: on vessels, on specks, in the lung);
    ``annotations.csv`` lists the nodules with their diameters and ``annotations_with_malignancy.csv``
    adds ``mal_bool``. ``SYNTHETIC.json`` records that the set is synthetic and how it was made.
    """
    from scipy.ndimage import gaussian_filter

    sitk = simpleitk()
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} is not empty; synthesize into a new folder")
    shape = tuple(int(s) for s in shape)
    if n_scans < 1 or any(s < c for s, c in zip(shape, CROP_SIZE)):
        raise DataError(f"need at least one scan of at least {CROP_SIZE} voxels, got {n_scans} of {shape}")
    n_subsets = n_subsets or min(10, n_scans)
    rng = np.random.default_rng(seed)
    cand_rows, ann_rows = [], []
    for i in range(n_scans):
        scan = _SyntheticScan(rng, f"1.3.6.1.4.1.14519.5.2.1.9999.{seed}.{i:04d}", shape, gaussian_filter)
        scan.add_vessels()
        scan.add_specks()
        scan.add_nodules(nodules_per_scan, malignant_fraction)
        scan.add_noise_and_field_of_view()
        scan.write(sitk, root / f"subset{i % n_subsets}")
        ann_rows += scan.annotation_rows()
        cand_rows += scan.positive_rows() + scan.negative_rows(negatives_per_scan)

    write_csv(root / "candidates.csv", ["seriesuid", "coordX", "coordY", "coordZ", "class"], cand_rows)
    write_csv(root / "annotations.csv", ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"], [r[:5] for r in ann_rows])
    write_csv(root / "annotations_with_malignancy.csv", ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "mal_bool"], ann_rows)
    marker = {"synthetic": True, "generator": "zoo.luna.synthetic.synthesize", "note": "synthetic LUNA16-like scans, not real CT",
              "n_scans": n_scans, "seed": seed, "shape": list(shape), "nodules_per_scan": list(nodules_per_scan),
              "negatives_per_scan": negatives_per_scan, "malignant_fraction": malignant_fraction,
              "candidates": len(cand_rows), "nodules": len(ann_rows)}
    (root / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return root


class _SyntheticScan:
    """One scan while it is drawn. Every method draws from the shared ``rng``; :func:`synthesize` calls
    them in a fixed order, so a seed always gives the same scan. Positions are voxels ``(index, row,
    column)`` (float), distances millimetres."""

    def __init__(self, rng: np.random.Generator, uid_prefix: str, shape: tuple[int, ...], smooth: Callable) -> None:
        self.rng, self.shape = rng, shape
        self.uid = f"{uid_prefix}{rng.integers(10**9, 10**10)}"
        sp_rc = rng.uniform(0.6, 0.9)
        self.spacing = np.array([rng.choice([1.25, 1.5, 2.0, 2.5]), sp_rc, sp_rc])  # (index, row, column) mm
        self.direction = _rotation(np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), 1.0]),
                                   rng.choice([-1, 1]) * rng.uniform(0.15, 0.45))
        self.origin = np.array([-rng.uniform(120, 220), -rng.uniform(120, 240), -rng.uniform(150, 400)])
        self.geometry = CtGeometry(tuple(self.origin), tuple(self.spacing[::-1]), tuple(self.direction.flatten()), shape)
        self.volume, self.lungs = _synthetic_anatomy(rng, shape, self.spacing, smooth)
        self.lung_voxels = np.argwhere(self.lungs)
        self.vessels: list[tuple[np.ndarray, np.ndarray, float]] = []  # (start, unit direction, length mm)
        self.specks: list[np.ndarray] = []
        self.nodules: list[tuple[np.ndarray, float, bool]] = []  # (centre, diameter mm, malignant)

    def lung_point(self, clearance_mm: float) -> np.ndarray:
        """A point in the lungs with (if one is found in 200 draws) only lung within ``clearance_mm``."""
        rng = self.rng
        for _ in range(200):
            p = self.lung_voxels[rng.integers(len(self.lung_voxels))] + rng.uniform(-0.5, 0.5, 3)
            box, off = _local_box(p, clearance_mm, self.spacing, self.shape)
            near = self.lungs[box][np.linalg.norm(off, axis=0) <= clearance_mm]
            if near.size == 0 or near.mean() > 0.97:
                return p
        return self.lung_voxels[rng.integers(len(self.lung_voxels))].astype(float)

    def add_vessels(self) -> None:
        """Soft-tissue tubes through the lungs: the hard negatives."""
        rng = self.rng
        for _ in range(rng.integers(12, 20)):
            start = self.lung_point(2.0)
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            length, radius = rng.uniform(15, 45), rng.uniform(0.8, 2.2)
            box, off = _local_box(start + d * length / 2 / self.spacing, length / 2 + radius + 1, self.spacing, self.shape)
            from_start = off + (d * length / 2)[:, None, None, None]  # mm offsets from the vessel's start
            _paint(self.volume, box, _segment_distance(from_start, d, length), radius, rng.uniform(0, 60))
            self.vessels.append((start, d, length))

    def add_specks(self) -> None:
        """Calcified specks: small, very dense."""
        rng = self.rng
        for _ in range(rng.integers(3, 7)):
            p = self.lung_point(3.0)
            box, off = _local_box(p, 3.0, self.spacing, self.shape)
            _paint(self.volume, box, np.linalg.norm(off, axis=0), rng.uniform(0.8, 1.5), rng.uniform(250, 500), edge=0.4)
            self.specks.append(p)

    def add_nodules(self, per_scan: tuple[int, int], malignant_fraction: float) -> None:
        """Nodules in the lungs, at least 6 mm apart (a draw too close to an earlier one is skipped)."""
        rng = self.rng
        for _ in range(rng.integers(per_scan[0], per_scan[1] + 1)):
            malignant = rng.random() < malignant_fraction
            diameter = rng.uniform(9, 22) if malignant else rng.uniform(4, 12)
            p = self.lung_point(diameter / 2 + 2)
            if any(np.linalg.norm((p - q) * self.spacing) < (diameter + dq) / 2 + 6 for q, dq, _ in self.nodules):
                continue
            _draw_nodule(self.volume, rng, p, diameter / 2, malignant, self.spacing, self.shape)
            self.nodules.append((p, diameter, malignant))

    def add_noise_and_field_of_view(self) -> None:
        self.volume += self.rng.normal(0, 18, self.volume.shape)  # scanner noise
        self.volume[~_fov_mask(self.shape, self.spacing)] = -3024

    def write(self, sitk, folder: Path) -> None:
        """``folder/<uid>.mhd`` + ``.raw``, int16, with the scan's spacing, origin and direction."""
        image = sitk.GetImageFromArray(np.round(self.volume).astype(np.int16))
        image.SetSpacing(tuple(float(s) for s in self.spacing[::-1]))
        image.SetOrigin(tuple(float(o) for o in self.origin))
        image.SetDirection(tuple(float(d) for d in self.direction.flatten()))
        folder.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(folder / f"{self.uid}.mhd"), useCompression=False)

    def xyz(self, p: np.ndarray) -> list[str]:
        """Patient coordinates of ``p`` as CSV text; inside the volume, also after rounding to the nearest voxel."""
        p = np.clip(p, 0, np.asarray(self.shape) - 1)
        return [repr(round(float(v), 4)) for v in self.geometry.voxel_to_patient(p)]

    def annotation_rows(self) -> list[list[str]]:
        """``annotations_with_malignancy.csv`` rows of the nodules."""
        return [[self.uid, *self.xyz(p), repr(round(diameter, 3)), str(bool(malignant))] for p, diameter, malignant in self.nodules]

    def positive_rows(self) -> list[list[str]]:
        """1-2 class-1 candidates per nodule, jittered by up to 30% of its radius."""
        rows = []
        for p, diameter, _ in self.nodules:
            for _ in range(self.rng.integers(1, 3)):
                jitter = self.rng.normal(size=3)
                jitter *= self.rng.uniform(0, 0.3 * diameter / 2) / np.linalg.norm(jitter)
                rows.append([self.uid, *self.xyz(p + jitter / self.spacing), "1"])
        return rows

    def negative_rows(self, count: int) -> list[list[str]]:
        """Class-0 candidates clear of every nodule: on vessels, on specks, or in plain lung."""
        rng, negatives = self.rng, []
        for _ in range(count):
            kind = rng.random()
            if kind < 0.5 and self.vessels:  # on a vessel: the hard negatives
                start, d, length = self.vessels[rng.integers(len(self.vessels))]
                p = start + d * rng.uniform(0, length) / self.spacing
            elif kind < 0.62 and self.specks:
                p = self.specks[rng.integers(len(self.specks))] + rng.normal(0, 0.3, 3)
            else:  # lung tissue, with nothing denser than -500 HU within 3 mm: not a structure seen off-centre
                for _ in range(20):
                    p = self.lung_point(1.0)
                    box, off = _local_box(p, 3.0, self.spacing, self.shape)
                    if self.volume[box][np.linalg.norm(off, axis=0) <= 3.0].max(initial=-1000) < -500:
                        break
            p = np.clip(p, 0, np.asarray(self.shape) - 1)
            if all(np.linalg.norm((p - q) * self.spacing) > dq / 2 + 6 for q, dq, _ in self.nodules):  # clear of every nodule
                negatives.append(p)
        return [[self.uid, *self.xyz(p), "0"] for p in negatives]


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _local_box(center: np.ndarray, radius_mm: float, spacing: np.ndarray, shape: Sequence[int]) -> tuple[tuple[slice, ...], np.ndarray]:
    """Slices of the voxels within ``radius_mm`` of ``center`` (voxels) and their offsets from it in mm ``[3, ...]``."""
    lo = np.maximum(np.floor(center - radius_mm / spacing).astype(int), 0)
    hi = np.minimum(np.ceil(center + radius_mm / spacing).astype(int) + 1, shape)
    grids = np.meshgrid(*[(np.arange(lo[k], hi[k]) - center[k]) * spacing[k] for k in range(3)], indexing="ij")
    return tuple(slice(lo[k], hi[k]) for k in range(3)), np.stack(grids)


def _paint(volume: np.ndarray, box: tuple[slice, ...], distance: np.ndarray, radius: float, hu: float, edge: float = 0.6) -> None:
    """Blend ``hu`` into ``volume[box]`` where ``distance`` (mm) < ``radius``, with a soft edge of ``edge`` mm."""
    w = np.clip((radius - distance) / edge + 0.5, 0, 1)
    volume[box] = volume[box] * (1 - w) + hu * w


def _segment_distance(offsets: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    t = np.clip(np.tensordot(direction, offsets, axes=1), 0, length)
    return np.linalg.norm(offsets - direction[:, None, None, None] * t, axis=0)


def _fov_mask(shape: Sequence[int], spacing: np.ndarray) -> np.ndarray:
    """The scanner's circular field of view, the same on every slice ``[index, row, column]``."""
    r = (np.arange(shape[1]) - (shape[1] - 1) / 2)[:, None]
    c = (np.arange(shape[2]) - (shape[2] - 1) / 2)[None, :]
    inside = (r / (shape[1] / 2)) ** 2 + (c / (shape[2] / 2)) ** 2 <= 1.0
    return np.broadcast_to(inside, shape)


def _synthetic_anatomy(rng: np.random.Generator, shape: Sequence[int], spacing: np.ndarray, smooth: Callable) -> tuple[np.ndarray, np.ndarray]:
    """A body of soft tissue in air with two textured lungs: ``(float HU [index, row, column], lung mask)``."""
    z = (np.arange(shape[0]) - (shape[0] - 1) / 2)[:, None, None] / (shape[0] / 2)
    r = (np.arange(shape[1]) - (shape[1] - 1) / 2)[None, :, None] / (shape[1] / 2)
    c = (np.arange(shape[2]) - (shape[2] - 1) / 2)[None, None, :] / (shape[2] / 2)
    body = (r / 0.78) ** 2 + (c / 0.92) ** 2 <= 1
    taper = 1 - 0.25 * z**2
    lungs = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        lungs |= ((r + 0.05) / (0.55 * taper)) ** 2 + ((c - side * 0.42) / (0.34 * taper)) ** 2 <= 1
    texture = smooth(rng.normal(0, 1, shape), sigma=(1.0, 2.0, 2.0))
    volume = np.where(body, 40.0 + 25 * texture, -1000.0)
    volume = np.where(lungs, -850.0 + 60 * texture, volume)
    return volume.astype(np.float32), lungs & body


def _draw_nodule(volume: np.ndarray, rng: np.random.Generator, center: np.ndarray, radius: float, malignant: bool,
                 spacing: np.ndarray, shape: Sequence[int]) -> None:
    reach = radius * (2.0 if malignant else 1.0) + 1.5
    box, off = _local_box(center, reach, spacing, shape)
    distance = np.linalg.norm(off, axis=0)
    if malignant:  # denser, lobulated, with spicules radiating from the surface
        hu = rng.uniform(40, 130)
        unit = off / np.maximum(distance, 1e-6)
        lobes = rng.normal(size=(3, 3))
        bumps = 1 + 0.12 * np.sin(np.tensordot(lobes, unit, axes=1) * 3).sum(0) / 3
        _paint(volume, box, distance / bumps, radius, hu, edge=0.8)
        for _ in range(rng.integers(6, 12)):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            length = radius * rng.uniform(1.4, 2.0)
            _paint(volume, box, _segment_distance(off, d, length), rng.uniform(0.5, 0.9), hu - 20, edge=0.5)
    else:
        _paint(volume, box, distance, radius, rng.uniform(-60, 50), edge=1.0)
