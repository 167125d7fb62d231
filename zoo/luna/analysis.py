"""End-to-end LUNA16 nodule analysis (the book's p2ch14): segment a whole CT, group the segmented voxels
into candidates, classify each candidate as nodule or not and as benign or malignant; and validation
of that pipeline over held-out scans with the LUNA16 rules (:mod:`zoo.luna.froc`).

    from zoo.luna.analysis import NodulePipeline
    pipeline = NodulePipeline.from_weights()              # the shipped ``*.synthetic`` weights
    result = pipeline.analyze_scan("ROOT/subset0/UID.mhd")
    for d in result.detections: print(d.center_xyz, d.diameter_mm, d.nodule_probability, d.malignancy_probability)

Steps of :meth:`NodulePipeline.analyze`:

1. ``luna_unet`` on every slice (7 neighbouring slices as channels, :func:`zoo.luna.patches.segment_slices`),
   sigmoid, threshold ``seg_threshold``;
2. connected components (``scipy.ndimage.label``, 26-connectivity), components smaller than
   ``min_voxels`` dropped; each component's centre of mass weighted by HU + 1001 (the book's rule) in
   voxels ``(index, row, column)`` and in patient millimetres ``(x, y, z)``, and its diameter estimate:
   the diameter of the sphere with the component's volume in mm³;
3. ``luna_classifier`` on the 32x48x48 crop around each centre: the nodule probability;
4. ``luna_malignancy`` on the same crops: the malignancy probability (meaningful for nodules only).

Scans are read with SimpleITK (extra ``luna``). The models see voxels, not millimetres: a scan whose
spacing lies outside the range the weights were trained on is resampled into it first
(``spacing_range``), and positions are reported in the scan's own coordinates.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from zoo.api import get_dataset, get_model
from zoo.errors import DataError, ZooError
from zoo.files import check_regular_file, regular_files
from zoo.luna.annotations import read_annotations
from zoo.luna.family import CLASS_NAMES, CROP_SIZE, MALIGNANCY_NAMES
from zoo.luna.froc import FROC_FP_RATES, competition_score, froc_curve, match_detections
from zoo.luna.geometry import CtGeometry, crop_start, read_ct
from zoo.luna.patches import segment_slices
from zoo.luna.synthetic import SYNTHETIC_MARKER

__all__ = ["Detection", "ScanAnalysis", "NodulePipeline", "validate", "SYNTHETIC_SPACING_RANGE", "is_synthetic_scan",
           "annotated_nodules", "predict_scans"]

#: The spacings ``zoo.luna.synthetic.synthesize`` draws, (index, row, column) mm: the range the shipped
#: ``*.synthetic`` weights have seen. Scans outside it are resampled into it before analysis.
SYNTHETIC_SPACING_RANGE = ((1.25, 2.5), (0.6, 0.9), (0.6, 0.9))
_ANNOTATION_FILES = ("annotations_with_malignancy.csv", "annotations.csv")


@dataclass(frozen=True)
class Detection:
    """One segmented candidate: where it is, how big, and what the classifiers say."""

    center_irc: tuple[float, float, float]  # voxels (index, row, column) of the scan as read
    center_xyz: tuple[float, float, float]  # patient millimetres (x, y, z)
    diameter_mm: float  # of the sphere with the segmented volume
    voxels: int
    nodule_probability: float
    malignancy_probability: float


@dataclass
class ScanAnalysis:
    """The detections of one scan, most probable nodule first."""

    series_uid: str
    path: str
    shape_irc: tuple[int, int, int]
    spacing_irc: tuple[float, float, float]
    detections: list[Detection]
    seconds: float
    resampled_to: tuple[float, float, float] | None = None
    notes: list[str] = field(default_factory=list)
    #: the clipped HU volume and the segmentation mask, both ``[D, H, W]`` as analysed (kept for plots)
    volume: np.ndarray | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)

    def nodules(self, threshold: float = 0.5) -> list[Detection]:
        return [d for d in self.detections if d.nodule_probability >= threshold]

    def to_json(self) -> dict[str, Any]:
        skip = ("volume", "mask", "detections")
        return {**{k: v for k, v in vars(self).items() if k not in skip}, "detections": [asdict(d) for d in self.detections]}

    def table(self, threshold: float = 0.5) -> str:
        """A plain-text table of the detections (``*`` marks nodule probability >= ``threshold``)."""
        lines = [f"{self.series_uid}: {len(self.detections)} candidates, {len(self.nodules(threshold))} with nodule "
                 f"probability >= {threshold} ({self.seconds:.1f} s)"]
        if not self.detections:
            lines.append("no nodules found: the segmentation marked no voxels")
            return "\n".join(lines)
        lines.append(f"{'':1} {'x mm':>8} {'y mm':>8} {'z mm':>8} {'diam mm':>8} {'nodule p':>9} {'malignant p':>11}")
        for d in self.detections:
            mark = "*" if d.nodule_probability >= threshold else " "
            x, y, z = d.center_xyz
            lines.append(f"{mark} {x:8.1f} {y:8.1f} {z:8.1f} {d.diameter_mm:8.1f} {d.nodule_probability:9.3f} {d.malignancy_probability:11.3f}")
        return "\n".join(lines)


def _load(arch: str, weights: Any, device: torch.device) -> torch.nn.Module:
    return get_model(arch, weights=weights).eval().to(device)


class NodulePipeline:
    """The three models and the thresholds of the end-to-end analysis (see the module doc).

    ``segmenter``: ``luna_unet`` (``[N, 7, H, W]`` HU -> logits ``[N, 1, H, W]``); ``classifier`` and
    ``malignancy``: ``luna_classifier`` / ``luna_malignancy`` (``[N, 1, 32, 48, 48]`` HU -> logits ``[N, 2]``).
    """

    def __init__(self, segmenter: torch.nn.Module, classifier: torch.nn.Module, malignancy: torch.nn.Module, *,
                 seg_threshold: float = 0.5, min_voxels: int = 4, spacing_range: Sequence[tuple[float, float]] | None = None,
                 batch_size: int = 16, device: str | torch.device = "cpu") -> None:
        if not 0.0 < seg_threshold < 1.0:
            raise ZooError(f"seg_threshold must be a probability in (0, 1), got {seg_threshold!r}")
        self.device = torch.device(device)
        self.segmenter, self.classifier, self.malignancy = (m.eval().to(self.device) for m in (segmenter, classifier, malignancy))
        self.seg_threshold, self.min_voxels, self.batch_size = seg_threshold, int(min_voxels), int(batch_size)
        self.spacing_range = None if spacing_range is None else tuple(tuple(map(float, r)) for r in spacing_range)

    @classmethod
    def from_weights(cls, *, seg_weights: Any = None, cls_weights: Any = None, mal_weights: Any = None,
                     device: str | torch.device = "cpu", **options: Any) -> "NodulePipeline":
        """Build the pipeline from weights (a tag, a ``.safetensors`` path or an ``hf://`` URI each);
        ``None`` takes the shipped ``synthetic`` weights, and then the synthetic spacing range."""
        device = torch.device(device)
        synthetic = seg_weights is None or cls_weights is None or mal_weights is None
        if synthetic and "spacing_range" not in options:
            options["spacing_range"] = SYNTHETIC_SPACING_RANGE
        return cls(_load("luna_unet", seg_weights or "synthetic", device), _load("luna_classifier", cls_weights or "synthetic", device),
                   _load("luna_malignancy", mal_weights or "synthetic", device), device=device, **options)

    # -- one scan
    def analyze_scan(self, mhd_path: str | os.PathLike, *, progress: bool = False) -> ScanAnalysis:
        """Read a ``.mhd`` scan (SimpleITK) and :meth:`analyze` it."""
        path = Path(mhd_path)
        if path.suffix.lower() != ".mhd":
            raise DataError(f"{path} is not a MetaImage header (.mhd); pass the .mhd file of a scan")
        volume, geometry = read_ct(path)
        return self.analyze(volume, geometry, series_uid=path.stem, path=str(path), progress=progress)

    def analyze(self, volume: np.ndarray, geometry: CtGeometry, *, series_uid: str = "scan", path: str = "",
                progress: bool = False) -> ScanAnalysis:
        """Detections in one CT: ``volume`` float32/int16 ``[D, H, W]`` HU in (index, row, column) order,
        ``geometry`` its :class:`zoo.luna.geometry.CtGeometry`."""
        start = time.perf_counter()
        volume = np.asarray(volume)
        if volume.ndim != 3 or volume.size == 0:
            raise DataError(f"a CT volume is [D, H, W] voxels, got shape {list(volume.shape)}")
        if not np.isfinite(volume).all():
            raise DataError("the CT volume holds NaN or infinite values: the scan is corrupt")
        if any(s < c for s, c in zip(volume.shape, CROP_SIZE)):
            raise DataError(f"the scan has {list(volume.shape)} voxels; the classifiers need at least {list(CROP_SIZE)}")
        original = geometry
        volume, geometry, resampled = self._into_spacing_range(volume.astype(np.float32), geometry)
        hu = np.clip(volume, -1000.0, 1000.0).astype(np.float32)

        logits = segment_slices(torch.from_numpy(hu), self.segmenter, batch_size=self.batch_size, device=self.device, progress=progress)
        mask = (torch.sigmoid(logits) >= self.seg_threshold).cpu().numpy()
        detections = self._detections(hu, mask, geometry, original, resampled is not None)
        notes = [f"resampled from spacing {tuple(round(float(s), 3) for s in original.spacing_irc)} to {resampled} mm (index, row, column), "
                 "the range the weights were trained on"] if resampled else []
        return ScanAnalysis(series_uid=series_uid, path=path, shape_irc=tuple(int(s) for s in original.shape_irc),
                            spacing_irc=tuple(float(s) for s in original.spacing_irc), detections=detections,
                            seconds=time.perf_counter() - start, resampled_to=resampled, notes=notes,
                            volume=None if resampled else hu, mask=None if resampled else mask)

    def _detections(self, hu: np.ndarray, mask: np.ndarray, geometry: CtGeometry, original: CtGeometry,
                    resampled: bool) -> list[Detection]:
        """Steps 2-4: the components of ``mask`` (in ``hu``'s voxels, ``geometry``), classified, in
        ``original``'s coordinates, most probable nodule first."""
        from scipy import ndimage

        labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
        detections: list[Detection] = []
        if count:
            sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]  # voxels per component
            keep = np.flatnonzero(sizes >= self.min_voxels) + 1
            centers = np.asarray(ndimage.center_of_mass(hu + 1001.0, labels, keep), dtype=np.float64).reshape(-1, 3)
            sizes = sizes[keep - 1]
            if len(keep):
                starts = crop_start(np.rint(centers).astype(np.int64), np.asarray(hu.shape), CROP_SIZE)
                crops = np.stack([hu[a : a + CROP_SIZE[0], b : b + CROP_SIZE[1], c : c + CROP_SIZE[2]] for a, b, c in starts])
                nodule_p = self._probabilities(self.classifier, crops)
                malignant_p = self._probabilities(self.malignancy, crops)
                voxel_mm3 = float(np.prod(geometry.spacing_irc))
                scale = np.asarray(original.shape_irc, dtype=np.float64) / np.asarray(geometry.shape_irc, dtype=np.float64)
                for k in range(len(keep)):
                    irc = (centers[k] + 0.5) * scale - 0.5 if resampled else centers[k]
                    detections.append(Detection(
                        center_irc=tuple(float(v) for v in irc), center_xyz=tuple(float(v) for v in original.voxel_to_patient(irc)),
                        diameter_mm=float(2.0 * (3.0 * sizes[k] * voxel_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0)),
                        voxels=int(sizes[k]), nodule_probability=float(nodule_p[k]), malignancy_probability=float(malignant_p[k])))
        detections.sort(key=lambda d: -d.nodule_probability)
        return detections

    def _probabilities(self, model: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
        """Positive-class probabilities of ``crops`` float32 ``[K, 32, 48, 48]`` HU."""
        out = []
        with torch.inference_mode():
            for k in range(0, len(crops), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[k : k + self.batch_size]))[:, None].to(self.device)
                out.append(torch.softmax(model(x).float(), dim=1)[:, 1].cpu())
        return torch.cat(out).numpy()

    def _into_spacing_range(self, volume: np.ndarray, geometry: CtGeometry) -> tuple[np.ndarray, CtGeometry, tuple[float, float, float] | None]:
        """Resample ``volume`` (linear) so that its spacing lies in ``spacing_range``; unchanged when it does."""
        if self.spacing_range is None:
            return volume, geometry, None
        spacing = np.asarray(geometry.spacing_irc, dtype=np.float64)
        target = np.asarray([min(max(s, lo), hi) for s, (lo, hi) in zip(spacing, self.spacing_range)])
        if np.allclose(target, spacing, rtol=1e-3):
            return volume, geometry, None
        from scipy import ndimage

        exact = np.asarray(volume.shape) * spacing / target  # voxels at the target spacing; round so the spacing stays in range
        shape = np.maximum(np.where(target > spacing, np.floor(exact), np.ceil(exact)).astype(int), 1)
        resampled = ndimage.zoom(volume, shape / np.asarray(volume.shape), order=1, grid_mode=True, mode="nearest")
        new_spacing = spacing * np.asarray(volume.shape) / np.asarray(resampled.shape)
        scaled = replace(geometry, spacing_xyz=tuple(float(s) for s in new_spacing[::-1]), shape_irc=tuple(int(s) for s in resampled.shape))
        return resampled.astype(np.float32), scaled, tuple(round(float(s), 4) for s in new_spacing)


# ---------------------------------------------------------------------------------------- validation


def validate(pipeline: NodulePipeline, *, root: str | os.PathLike | None = None, split: str = "test", fold: int | None = None,
             nodule_threshold: float = 0.5, malignancy_threshold: float = 0.5, progress: bool = True) -> dict[str, Any]:
    """Run ``pipeline`` over the ``split`` scans of a LUNA16 folder (``root=None``: the synthetic set;
    ``fold=K``: the official subsets as folds, as the ``luna`` dataset takes them) and
    score it with the LUNA16 rules: detection recall and false positives per scan at ``nodule_threshold``,
    the FROC curve and CPM, and the benign/malignant confusion of the nodules found (shared evaluator)."""
    from zoo.metrics import Evaluator
    from zoo.progress import progress as progress_bar

    dataset = get_dataset("luna", split=split, root=root, **({} if fold is None else {"fold": fold}))
    root_path = Path(dataset.root)
    annotation_file = next((root_path / n for n in _ANNOTATION_FILES if (root_path / n).is_file()), None)
    if annotation_file is None:
        raise DataError(f"{root_path} has no annotations.csv: validation needs the annotated nodules")
    by_series: dict[str, list[Any]] = {}
    for a in read_annotations(annotation_file):
        by_series.setdefault(a.series_uid, []).append(a)
    has_malignancy = annotation_file.name == "annotations_with_malignancy.csv"
    malignancy = Evaluator("classification", 2, class_names=list(MALIGNANCY_NAMES))
    best_all, fp_scores, per_scan = [], [], []
    for uid, mhd in progress_bar(list(dataset.scan_paths.items()), desc="validate", unit="scan", disable=not progress):
        result = pipeline.analyze_scan(mhd)
        nodules = by_series.get(uid, [])
        hit, best = match_detections(result.detections, nodules)
        best_all.append(best)
        fp_scores += [d.nodule_probability for d, h in zip(result.detections, hit) if h < 0]
        found = [j for j in range(len(nodules)) if best[j] >= nodule_threshold]
        if has_malignancy and found:
            _score_malignancy(malignancy, result.detections, hit, nodules, nodule_threshold, malignancy_threshold)
        per_scan.append({"series_uid": uid, "nodules": len(nodules), "found": len(found), "seconds": round(result.seconds, 2),
                         "false_positives": int(sum(1 for d, h in zip(result.detections, hit) if h < 0 and d.nodule_probability >= nodule_threshold))})
    best_scores = np.concatenate(best_all) if best_all else np.zeros(0)
    n_scans = len(per_scan)
    fps, sensitivity, thresholds = froc_curve(best_scores, np.asarray(fp_scores), n_scans)
    cpm, at_rates = competition_score(fps, sensitivity)
    n_nodules = len(best_scores)
    return {
        "root": str(root_path), "split": split if fold is None else f"{split} (fold {fold})", "synthetic": bool(getattr(dataset, "synthetic", False)), "scans": n_scans,
        "nodules": n_nodules, "nodule_threshold": nodule_threshold,
        "recall": float((best_scores >= nodule_threshold).sum() / n_nodules) if n_nodules else float("nan"),
        "false_positives_per_scan": float(sum(s["false_positives"] for s in per_scan) / max(n_scans, 1)),
        "recall_at_4_fp_per_scan": at_rates[FROC_FP_RATES.index(4.0)],
        "cpm": cpm, "sensitivity_at_fp_rates": dict(zip(map(str, FROC_FP_RATES), at_rates)),
        "froc": {"fps_per_scan": fps.tolist(), "sensitivity": sensitivity.tolist(), "thresholds": thresholds.tolist()},
        "malignancy": malignancy.compute() if has_malignancy and int(malignancy.confusion.sum()) else None,
        "seconds_per_scan": float(np.mean([s["seconds"] for s in per_scan])) if per_scan else 0.0,
        "per_scan": per_scan,
    }


def _score_malignancy(evaluator: Any, detections: Sequence[Detection], hit: np.ndarray, nodules: Sequence[Any],
                      nodule_threshold: float, malignancy_threshold: float) -> None:
    """Add the benign/malignant call of each nodule found (its most malignant hitting detection) to ``evaluator``."""
    mal_p: dict[int, float] = {}
    for d, h in zip(detections, hit):
        if h >= 0 and d.nodule_probability >= nodule_threshold:
            mal_p[int(h)] = max(mal_p.get(int(h), 0.0), d.malignancy_probability)
    targets = torch.tensor([int(nodules[j].is_malignant) for j in mal_p])
    evaluator.update(torch.tensor([int(p >= malignancy_threshold) for p in mal_p.values()]), targets)


# ----------------------------------------------------------------------------------- for `zoo luna analyze`


def is_synthetic_scan(path: Path) -> bool:
    """Whether ``path`` lies in a synthetic set (a ``SYNTHETIC.json`` up to two folders above it)."""
    return any((parent / SYNTHETIC_MARKER).is_file() for parent in list(path.resolve().parents)[:3])


def annotated_nodules(scan: Path, result: ScanAnalysis, threshold: float) -> list[str]:
    """When the scan's data set annotates it (``ROOT/annotations*.csv``), lines listing its nodules and
    which were found (by a detection with nodule probability >= ``threshold``); else no lines."""
    for root in list(scan.resolve().parents)[:2]:
        path = next((root / n for n in _ANNOTATION_FILES if (root / n).is_file()), None)
        if path is None:
            continue
        nodules = [a for a in read_annotations(path) if a.series_uid == result.series_uid]
        hit, best = match_detections(result.nodules(threshold), nodules)
        lines = [f"annotated in {path.name}: {len(nodules)} nodules, {int(np.isfinite(best).sum())} found "
                 f"(a detection with nodule p >= {threshold} within the nodule's radius), {int((hit < 0).sum())} false positives"]
        for a, b in zip(nodules, best):
            kind = "" if a.is_malignant is None else (" malignant" if a.is_malignant else " benign")
            lines.append(f"  {'found ' if np.isfinite(b) else 'missed'} {a.center_xyz[0]:8.1f} {a.center_xyz[1]:8.1f} {a.center_xyz[2]:8.1f}"
                         f"  {a.diameter_mm:5.1f} mm{kind}")
        return lines
    return []


# ------------------------------------------------------------------------------------- for `zoo predict`

#: The pipeline's argument that takes each LUNA16 model's weights.
_WEIGHTS_SLOT = {"luna_unet": "seg_weights", "luna_classifier": "cls_weights", "luna_malignancy": "mal_weights"}


def predict_scans(model: str, weights: Any, inputs: Sequence[str | os.PathLike], *, device: str | torch.device = "cpu",
                  batch_size: int = 16, top_k: int | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """``zoo predict`` for the LUNA16 models: every ``.mhd`` scan of ``inputs`` (files, or folders searched for
    them) through :class:`NodulePipeline`, with ``weights`` for ``model`` and the shipped ``synthetic`` weights
    for the other two models.

    One record per detection, most probable nodule first: ``input`` (the scan), ``label`` and ``probability``
    (``luna_malignancy``: benign/malignant; the others: nodule/non-nodule), ``center_xyz_mm``, ``diameter_mm``,
    ``nodule_probability``, ``malignancy_probability``, and ``top_k`` when asked. A scan without detections
    gives one record with ``label`` and ``probability`` ``None``; a scan that cannot be read, one with ``error``.
    """
    from zoo.progress import progress as progress_bar

    if model not in _WEIGHTS_SLOT:
        raise ZooError(f"predict_scans runs the LUNA16 models {sorted(_WEIGHTS_SLOT)}, not {model!r}")
    scans: list[Path | tuple[str, str]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = [Path(p) for p in regular_files(path) if p.endswith(".mhd")]
            scans += found or [(str(path), f"{path}: no .mhd scans in this folder")]
        else:
            scans.append(path)
    pipeline = NodulePipeline.from_weights(**{_WEIGHTS_SLOT[model]: weights}, device=device, batch_size=batch_size)
    names, key = (MALIGNANCY_NAMES, "malignancy_probability") if model == "luna_malignancy" else (CLASS_NAMES, "nodule_probability")
    records: list[dict[str, Any]] = []
    for scan in progress_bar(scans, desc="predict", unit="scan", disable=not progress):
        if isinstance(scan, tuple):
            records.append({"input": scan[0], "error": scan[1]})
            continue
        try:
            check_regular_file(scan, "a .mhd scan")  # a FIFO or device is named, not opened
            result = pipeline.analyze_scan(scan)
        except ZooError as exc:
            records.append({"input": str(scan), "error": str(exc)})
            continue
        note = None if is_synthetic_scan(scan) else ("not from a synthetic set, and the shipped weights of the other LUNA16 models "
                                                      "were trained on synthetic scans only")
        if not result.detections:
            records.append({"input": str(scan), "label": None, "probability": None, "detections": 0, **({"note": note} if note else {})})
        for d in result.detections:
            p = getattr(d, key)
            ranked = sorted(zip(names, (1.0 - p, p)), key=lambda lp: -lp[1])
            record = {"input": str(scan), "label": ranked[0][0], "probability": ranked[0][1],
                      "center_xyz_mm": [round(v, 2) for v in d.center_xyz], "diameter_mm": round(d.diameter_mm, 2),
                      "nodule_probability": d.nodule_probability, "malignancy_probability": d.malignancy_probability}
            if top_k:
                record["top_k"] = [{"label": n, "probability": q} for n, q in ranked[:top_k]]
            records.append({**record, **({"note": note} if note else {})})
    return records
