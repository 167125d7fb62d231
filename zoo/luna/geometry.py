"""CT geometry and MetaImage reading.

Conventions. Patient coordinates are ``(x, y, z)`` in millimetres, as in the LUNA16 CSV files. Voxel
coordinates are ``(index, row, column)``: the order of the numpy array SimpleITK returns, slowest
first (``index`` is the slice, along the head-foot axis in axial CT). Hounsfield units are clipped to
``[-1000, 1000]``.

A scan is a MetaImage: a ``.mhd`` text header and a ``.raw`` file of voxels. The header is checked
(and the ``.raw`` file's size against it) before SimpleITK reads anything, so a truncated download is
a clear error instead of a crash deep inside the reader.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoo.errors import DataError, ZooError

__all__ = [
    "HU_MIN", "HU_MAX", "CtGeometry", "simpleitk", "read_mhd_header", "check_raw", "source_stamp",
    "read_geometry", "read_ct", "crop_start",
]

HU_MIN, HU_MAX = -1000, 1000


def simpleitk():
    """The ``SimpleITK`` module, or a clear error naming the extra that installs it."""
    try:
        import SimpleITK
    except ImportError:
        raise ZooError("reading LUNA16 CT scans needs SimpleITK: pip install 'hubzoo[luna]'") from None
    return SimpleITK


@dataclass(frozen=True)
class CtGeometry:
    """Where a scan's voxels are in the patient: ``x = origin + direction @ (spacing * (col, row, index))``.

    ``origin_xyz`` and ``spacing_xyz`` are in mm, ``direction`` is the 3x3 matrix whose columns are the
    patient-space directions of the column, row and index axes (SimpleITK's ``GetDirection()``, row
    major), and ``shape_irc`` is the array shape ``(index, row, column)``.
    """

    origin_xyz: tuple[float, float, float]
    spacing_xyz: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 values, row major
    shape_irc: tuple[int, int, int]

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def spacing_irc(self) -> np.ndarray:
        return np.asarray(self.spacing_xyz, dtype=np.float64)[::-1].copy()

    def voxel_to_patient(self, irc: Any) -> np.ndarray:
        """Voxel ``(index, row, column)`` (float or int, ``[..., 3]``) -> patient ``(x, y, z)`` mm ``[..., 3]``."""
        cri = np.asarray(irc, dtype=np.float64)[..., ::-1]
        return np.asarray(self.origin_xyz) + (cri * np.asarray(self.spacing_xyz)) @ self.direction_matrix.T

    def patient_to_voxel(self, xyz: Any) -> np.ndarray:
        """Patient ``(x, y, z)`` mm ``[..., 3]`` -> continuous voxel ``(index, row, column)`` ``[..., 3]``.

        Solves ``direction @ (spacing * cri) = xyz - origin``. The book computed
        ``(xyz - origin) @ inv(direction)``, i.e. ``inv(direction).T @ v``: the inverse applied from the
        wrong side, right only when the direction matrix is symmetric (identity, as in most of LUNA16).
        """
        offset = np.asarray(xyz, dtype=np.float64) - np.asarray(self.origin_xyz)
        cri = np.linalg.solve(self.direction_matrix, offset.reshape(-1, 3).T).T.reshape(offset.shape)
        return (cri / np.asarray(self.spacing_xyz))[..., ::-1]

    def patient_to_index(self, xyz: Any) -> np.ndarray:
        """The nearest voxel ``(index, row, column)`` as ``int64``, like SimpleITK's ``TransformPhysicalPointToIndex``."""
        return np.floor(self.patient_to_voxel(xyz) + 0.5).astype(np.int64)


def _geometry_from(obj: Any) -> CtGeometry:
    """A :class:`CtGeometry` from a SimpleITK image or an ``ImageFileReader`` after ``ReadImageInformation``."""
    size = tuple(int(s) for s in obj.GetSize())
    return CtGeometry(tuple(obj.GetOrigin()), tuple(obj.GetSpacing()), tuple(obj.GetDirection()), size[::-1])


_ELEMENT_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                  "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def read_mhd_header(mhd_path: Path) -> dict[str, str]:
    """The ``key = value`` lines of a MetaImage header; an error unless it names the dimensions and data file."""
    try:
        text = mhd_path.read_text(errors="replace")
    except FileNotFoundError:
        raise DataError(f"CT header {mhd_path} does not exist") from None
    header = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    missing = [k for k in ("NDims", "DimSize", "ElementType", "ElementDataFile") if k not in header]
    if missing:
        raise DataError(f"{mhd_path} is not a MetaImage header (no {', '.join(missing)})")
    return header


def check_raw(mhd_path: Path) -> Path:
    """The ``.raw`` file of ``mhd_path``; an error unless it exists and holds every voxel the header promises."""
    header = read_mhd_header(mhd_path)
    raw_path = mhd_path.parent / header["ElementDataFile"]
    if header["ElementDataFile"] == "LOCAL" or header.get("CompressedData", "False").lower() == "true":
        return mhd_path  # data inside the header, or compressed: SimpleITK checks it while reading
    if not raw_path.is_file():
        raise DataError(f"{mhd_path} names the data file {raw_path.name}, which does not exist")
    try:
        dims = [int(d) for d in header["DimSize"].split()]
        channels = int(header.get("ElementNumberOfChannels", "1"))
        expected = math.prod(dims) * channels * _ELEMENT_BYTES[header["ElementType"]]
    except (ValueError, KeyError):
        raise DataError(f"{mhd_path}: cannot read DimSize/ElementType ({header.get('DimSize')!r}, {header.get('ElementType')!r})") from None
    actual = raw_path.stat().st_size
    if actual < expected:
        raise DataError(f"{raw_path} is truncated: {actual:,} bytes, but its header {mhd_path.name} describes "
                        f"{'x'.join(map(str, dims))} voxels of {header['ElementType']} ({expected:,} bytes). Download it again.")
    return raw_path


def source_stamp(mhd_path: Path) -> dict[str, Any]:
    """What identifies a scan's source files: their paths, sizes and modification times (cache validation)."""
    raw = check_raw(mhd_path)
    stamp = {"mhd": str(mhd_path.resolve())}
    for key, p in (("mhd", mhd_path), ("raw", raw)):
        st = p.stat()
        stamp[f"{key}_bytes"], stamp[f"{key}_mtime_ns"] = st.st_size, st.st_mtime_ns
    return stamp


def read_geometry(mhd_path: str | os.PathLike) -> CtGeometry:
    """The geometry of a ``.mhd`` scan from its header alone (checks that the ``.raw`` file is complete)."""
    mhd_path = Path(mhd_path)
    check_raw(mhd_path)
    sitk = simpleitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(mhd_path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DataError(f"SimpleITK cannot read the header {mhd_path}: {str(exc).strip().splitlines()[-1]}") from None
    if reader.GetDimension() != 3:
        raise DataError(f"{mhd_path} is a {reader.GetDimension()}-D image; CT scans are 3-D")
    return _geometry_from(reader)


def read_ct(mhd_path: str | os.PathLike) -> tuple[np.ndarray, CtGeometry]:
    """Read a scan with SimpleITK: ``(int16 [index, row, column] HU clipped to [-1000, 1000], geometry)``."""
    mhd_path = Path(mhd_path)
    check_raw(mhd_path)
    sitk = simpleitk()
    try:
        image = sitk.ReadImage(str(mhd_path))
    except RuntimeError as exc:
        raise DataError(f"SimpleITK cannot read {mhd_path}: {str(exc).strip().splitlines()[-1]}") from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"{mhd_path} is not a 3-D single-channel CT scan")
    hu = np.clip(sitk.GetArrayViewFromImage(image), HU_MIN, HU_MAX).astype(np.int16)
    return hu, _geometry_from(image)


def crop_start(center_irc: Any, shape_irc: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """First voxel of a crop of ``size`` centred on ``center_irc`` (int ``[..., 3]``), shifted to lie inside ``shape_irc``."""
    center = np.asarray(center_irc, dtype=np.int64)
    size_a, shape_a = np.asarray(size, dtype=np.int64), np.asarray(shape_irc, dtype=np.int64)
    return np.clip(center - size_a // 2, 0, np.maximum(shape_a - size_a, 0))
