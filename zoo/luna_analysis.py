"""End-to-end LUNA16 nodule analysis (the book's p2ch14): segment a whole CT, group the segmented voxels
into candidates, classify each candidate as nodule or not and as benign or malignant; and validation
of that pipeline over held-out scans with the LUNA16 rules (detection hits, FROC curve, CPM score).

    from zoo.luna_analysis import NodulePipeline
    pipeline = NodulePipeline.from_weights()              # the shipped ``*.synthetic`` weights
    result = pipeline.analyze_scan("ROOT/subset0/UID.mhd")
    for d in result.detections: print(d.center_xyz, d.diameter_mm, d.nodule_probability, d.malignancy_probability)

Steps of :meth:`NodulePipeline.analyze`:

1. ``luna_unet`` on every slice (7 neighbouring slices as channels, ``zoo.inference.segment_slices``),
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

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from zoo.errors import DataError, ZooError

__all__ = ["Detection", "ScanAnalysis", "NodulePipeline", "match_detections", "froc_curve", "competition_score",
           "validate", "SYNTHETIC_SPACING_RANGE", "FROC_FP_RATES"]

#: The spacings ``zoo.datasets.luna.synthesize`` draws, (index, row, column) mm: the range the shipped
#: ``*.synthetic`` weights have seen. Scans outside it are resampled into it before analysis.
SYNTHETIC_SPACING_RANGE = ((1.25, 2.5), (0.6, 0.9), (0.6, 0.9))
#: False positives per scan at which the LUNA16 competition averages the sensitivity (its CPM score).
FROC_FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


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
    import zoo

    return zoo.get_model(arch, weights=weights).eval().to(device)


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
        from zoo.datasets.luna import read_ct

        path = Path(mhd_path)
        if path.suffix.lower() != ".mhd":
            raise DataError(f"{path} is not a MetaImage header (.mhd); pass the .mhd file of a scan")
        volume, geometry = read_ct(path)
        return self.analyze(volume, geometry, series_uid=path.stem, path=str(path), progress=progress)

    def analyze(self, volume: np.ndarray, geometry: Any, *, series_uid: str = "scan", path: str = "",
                progress: bool = False) -> ScanAnalysis:
        """Detections in one CT: ``volume`` float32/int16 ``[D, H, W]`` HU in (index, row, column) order,
        ``geometry`` its ``zoo.datasets.luna.CtGeometry``."""
        from scipy import ndimage

        from zoo.datasets.luna import CROP_SIZE, CtGeometry, crop_start
        from zoo.inference import segment_slices

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
        notes = [f"resampled from spacing {tuple(round(float(s), 3) for s in original.spacing_irc)} to {resampled} mm (index, row, column), "
                 "the range the weights were trained on"] if resampled else []
        return ScanAnalysis(series_uid=series_uid, path=path, shape_irc=tuple(int(s) for s in original.shape_irc),
                            spacing_irc=tuple(float(s) for s in original.spacing_irc), detections=detections,
                            seconds=time.perf_counter() - start, resampled_to=resampled, notes=notes,
                            volume=None if resampled else hu, mask=None if resampled else mask)

    def _probabilities(self, model: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
        """Positive-class probabilities of ``crops`` float32 ``[K, 32, 48, 48]`` HU."""
        out = []
        with torch.inference_mode():
            for k in range(0, len(crops), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[k : k + self.batch_size]))[:, None].to(self.device)
                out.append(torch.softmax(model(x).float(), dim=1)[:, 1].cpu())
        return torch.cat(out).numpy()

    def _into_spacing_range(self, volume: np.ndarray, geometry: Any) -> tuple[np.ndarray, Any, tuple[float, float, float] | None]:
        """Resample ``volume`` (linear) so that its spacing lies in ``spacing_range``; unchanged when it does."""
        if self.spacing_range is None:
            return volume, geometry, None
        spacing = np.asarray(geometry.spacing_irc, dtype=np.float64)
        target = np.asarray([min(max(s, lo), hi) for s, (lo, hi) in zip(spacing, self.spacing_range)])
        if np.allclose(target, spacing, rtol=1e-3):
            return volume, geometry, None
        from dataclasses import replace

        from scipy import ndimage

        exact = np.asarray(volume.shape) * spacing / target  # voxels at the target spacing; round so the spacing stays in range
        shape = np.maximum(np.where(target > spacing, np.floor(exact), np.ceil(exact)).astype(int), 1)
        resampled = ndimage.zoom(volume, shape / np.asarray(volume.shape), order=1, grid_mode=True, mode="nearest")
        new_spacing = spacing * np.asarray(volume.shape) / np.asarray(resampled.shape)
        scaled = replace(geometry, spacing_xyz=tuple(float(s) for s in new_spacing[::-1]), shape_irc=tuple(int(s) for s in resampled.shape))
        return resampled.astype(np.float32), scaled, tuple(round(float(s), 4) for s in new_spacing)


# ---------------------------------------------------------------------------------------- validation


def match_detections(detections: Sequence[Detection], nodules: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The LUNA16 hit rule: a detection hits a nodule when its centre lies within the nodule's radius.

    ``nodules``: annotations with ``center_xyz`` (mm) and ``diameter_mm``. Returns ``(hit_nodule
    int64 [len(detections)]`` (the index of the nodule hit, the nearest when several, -1 for none),
    ``best_score float64 [len(nodules)]`` (the highest nodule probability among the detections hitting
    each nodule, -inf when none does)).
    """
    hit = np.full(len(detections), -1, dtype=np.int64)
    best = np.full(len(nodules), -np.inf)
    if not len(detections) or not len(nodules):
        return hit, best
    centres = np.asarray([d.center_xyz for d in detections], dtype=np.float64)
    nodule_xyz = np.asarray([n.center_xyz for n in nodules], dtype=np.float64)
    radius = np.asarray([n.diameter_mm for n in nodules], dtype=np.float64) / 2.0
    distance = np.linalg.norm(centres[:, None, :] - nodule_xyz[None, :, :], axis=2)
    inside = distance <= radius[None, :]
    for k in np.flatnonzero(inside.any(axis=1)):
        j = int(np.argmin(np.where(inside[k], distance[k], np.inf)))
        hit[k] = j
        best[j] = max(best[j], detections[k].nodule_probability)
    return hit, best


def froc_curve(best_scores: np.ndarray, false_positive_scores: np.ndarray, n_scans: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fps_per_scan, sensitivity, thresholds)``, thresholds decreasing: at threshold ``t`` a nodule is
    found when its best hitting detection scores ``>= t``, and every non-hitting detection scoring ``>= t``
    is a false positive (detections that hit an already-found nodule are neither, as in LUNA16)."""
    if n_scans < 1:
        raise DataError("a FROC curve needs at least one scan")
    best_scores = np.asarray(best_scores, dtype=np.float64)
    false_positive_scores = np.asarray(false_positive_scores, dtype=np.float64)
    thresholds = np.unique(np.concatenate([best_scores[np.isfinite(best_scores)], false_positive_scores]))[::-1]
    n_nodules = max(len(best_scores), 1)
    sensitivity = np.array([(best_scores >= t).sum() / n_nodules for t in thresholds])
    fps = np.array([(false_positive_scores >= t).sum() / n_scans for t in thresholds])
    return fps, sensitivity, thresholds


def competition_score(fps: np.ndarray, sensitivity: np.ndarray, rates: Sequence[float] = FROC_FP_RATES) -> tuple[float, list[float]]:
    """The LUNA16 CPM: the mean sensitivity at ``rates`` false positives per scan, interpolated linearly
    on the FROC curve (at each false-positive rate the curve's best sensitivity; beyond its last point
    its final sensitivity; before its first point 0)."""
    if len(fps) == 0:
        return 0.0, [0.0] * len(rates)
    xs, first = np.unique(np.asarray(fps, dtype=np.float64), return_index=True)
    ys = np.maximum.reduceat(np.asarray(sensitivity, dtype=np.float64)[np.argsort(fps, kind="stable")], first)
    at = [float(np.interp(r, xs, ys, left=0.0, right=float(ys[-1]))) for r in rates]
    return float(np.mean(at)), at


def validate(pipeline: NodulePipeline, *, root: str | os.PathLike | None = None, split: str = "test", fold: int | None = None,
             nodule_threshold: float = 0.5, malignancy_threshold: float = 0.5, progress: bool = True) -> dict[str, Any]:
    """Run ``pipeline`` over the ``split`` scans of a LUNA16 folder (``root=None``: the synthetic set;
    ``fold=K``: the official subsets as folds, as the ``luna`` dataset takes them) and
    score it with the LUNA16 rules: detection recall and false positives per scan at ``nodule_threshold``,
    the FROC curve and CPM, and the benign/malignant confusion of the nodules found (shared evaluator)."""
    from tqdm.auto import tqdm

    import zoo
    from zoo.datasets.luna import read_annotations
    from zoo.metrics import Evaluator

    dataset = zoo.get_dataset("luna", split=split, root=root, **({} if fold is None else {"fold": fold}))
    root_path = Path(dataset.root)
    annotation_file = next((root_path / n for n in ("annotations_with_malignancy.csv", "annotations.csv") if (root_path / n).is_file()), None)
    if annotation_file is None:
        raise DataError(f"{root_path} has no annotations.csv: validation needs the annotated nodules")
    by_series: dict[str, list[Any]] = {}
    for a in read_annotations(annotation_file):
        by_series.setdefault(a.series_uid, []).append(a)
    has_malignancy = annotation_file.name == "annotations_with_malignancy.csv"
    malignancy = Evaluator("classification", 2, class_names=["benign", "malignant"])
    best_all, fp_scores, per_scan = [], [], []
    for uid, mhd in tqdm(list(dataset.scan_paths.items()), desc="validate", unit="scan", disable=not progress):
        result = pipeline.analyze_scan(mhd)
        nodules = by_series.get(uid, [])
        hit, best = match_detections(result.detections, nodules)
        best_all.append(best)
        fp_scores += [d.nodule_probability for d, h in zip(result.detections, hit) if h < 0]
        found = [j for j in range(len(nodules)) if best[j] >= nodule_threshold]
        if has_malignancy and found:
            mal_p = {}
            for d, h in zip(result.detections, hit):
                if h >= 0 and d.nodule_probability >= nodule_threshold:
                    mal_p[int(h)] = max(mal_p.get(int(h), 0.0), d.malignancy_probability)
            targets = torch.tensor([int(nodules[j].is_malignant) for j in mal_p])
            malignancy.update(torch.tensor([int(p >= malignancy_threshold) for p in mal_p.values()]), targets)
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


def write_json(data: Any, path: str | os.PathLike) -> None:
    """``data`` as strict JSON (NaN as null), written atomically."""
    from zoo.metrics import jsonable
    from zoo.weights import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n").encode())


# ------------------------------------------------------------------------------------------- the CLI


def add_commands(subparsers: Any) -> None:
    """Add ``zoo luna analyze SCAN.mhd`` and ``zoo luna validate`` to an argparse ``subparsers``."""
    p = subparsers.add_parser("luna", help="end-to-end LUNA16 nodule analysis (segment, classify, malignancy)",
                              description="End-to-end LUNA16 nodule analysis with luna_unet, luna_classifier and luna_malignancy.")
    sub = p.add_subparsers(dest="luna_command", required=True, metavar="COMMAND")

    def weights_options(q: Any) -> None:
        q.add_argument("--seg-weights", help="luna_unet weights: tag, .safetensors or hf:// (default: the shipped synthetic ones)")
        q.add_argument("--cls-weights", help="luna_classifier weights (default: the shipped synthetic ones)")
        q.add_argument("--mal-weights", help="luna_malignancy weights (default: the shipped synthetic ones)")
        q.add_argument("--seg-threshold", type=float, default=0.5, help="segmentation probability threshold (default 0.5)")
        q.add_argument("--threshold", type=float, default=0.5, help="nodule probability that counts as a nodule (default 0.5)")
        q.add_argument("--device", default="cpu")

    a = sub.add_parser("analyze", help="find and classify the nodules of one scan",
                       description="Segment SCAN.mhd slice by slice, group the voxels into candidates, classify each "
                                   "(nodule probability, malignancy probability); print a table, write JSON.")
    a.add_argument("scan", help="a MetaImage header, ROOT/subsetK/UID.mhd (its .raw beside it)")
    weights_options(a)
    a.add_argument("--json", dest="json_out", help="write the detections as JSON here (default: print only)")
    a.add_argument("--plot", help="folder for one PNG per detection (three slices through its centre)")
    a.add_argument("--allow-synthetic-weights", action="store_true",
                   help="run the shipped weights (trained on synthetic scans) on a scan that is not synthetic")
    a.set_defaults(run=_cmd_analyze)

    v = sub.add_parser("validate", help="score the pipeline on held-out scans (LUNA16 rules: FROC, CPM)",
                       description="Run the pipeline over the held-out scans of ROOT and report detection recall, false "
                                   "positives per scan, the FROC curve and CPM score, and the benign/malignant confusion.")
    v.add_argument("--root", help="LUNA16 folder (default: the synthetic set)")
    v.add_argument("--split", default="test", choices=("test", "val", "train", "all"), help="scans to use (default test)")
    v.add_argument("--fold", type=int, help="use the official subsets as folds: test = subsetK (as the luna dataset's fold=K)")
    weights_options(v)
    v.add_argument("--out", help="folder for report.json and froc.png (default: print only)")
    v.set_defaults(run=_cmd_validate)


def _is_synthetic_scan(path: Path) -> bool:
    from zoo.datasets.luna import SYNTHETIC_MARKER

    return any((parent / SYNTHETIC_MARKER).is_file() for parent in list(path.resolve().parents)[:3])


def _pipeline(args: Any) -> NodulePipeline:
    return NodulePipeline.from_weights(seg_weights=args.seg_weights, cls_weights=args.cls_weights, mal_weights=args.mal_weights,
                                       seg_threshold=args.seg_threshold, device=args.device)


def _cmd_analyze(args: Any) -> int:
    scan = Path(args.scan)
    if not scan.is_file() or scan.suffix.lower() != ".mhd":
        raise DataError(f"{scan} is not a scan: pass the .mhd header of a MetaImage scan (its .raw beside it)")
    defaults = [flag for flag, value in (("--seg-weights", args.seg_weights), ("--cls-weights", args.cls_weights),
                                        ("--mal-weights", args.mal_weights)) if value is None]
    if defaults and not _is_synthetic_scan(scan) and not args.allow_synthetic_weights:
        raise ZooError(
            f"{scan} is not from a synthetic set, and the default weights (luna_unet/luna_classifier/luna_malignancy "
            "'synthetic') were trained on synthetic scans only. Pass weights trained on LUNA16 with "
            f"{' '.join(f + ' W' for f in defaults)} (train them with `zoo train luna_unet --data luna_seg --root ROOT`, "
            "`zoo train luna_classifier --data luna --root ROOT`, `zoo train luna_malignancy --data luna_malignancy --root ROOT`), "
            "or --allow-synthetic-weights to run the synthetic ones anyway")
    result = _pipeline(args).analyze_scan(scan, progress=True)
    print(result.table(args.threshold))
    for note in result.notes:
        print(f"note: {note}")
    _print_annotated(scan, result, args.threshold)
    if _is_synthetic_scan(scan):
        print("(a SYNTHETIC scan: these numbers say nothing about real CT)")
    if args.json_out:
        write_json(result.to_json(), args.json_out)
        print(f"json: {args.json_out}")
    if args.plot:
        from zoo.plots import plot_detection

        if result.volume is None:
            print("plots: skipped (the scan was resampled; the plots show the scan as analysed only)")
        for k, d in enumerate(result.detections):
            path = plot_detection(result.volume, result.mask, d.center_irc, Path(args.plot) / f"{result.series_uid}-{k:02d}.png",
                                  spacing_irc=result.spacing_irc,
                                  title=f"detection {k}: nodule p {d.nodule_probability:.2f}, malignant p "
                                        f"{d.malignancy_probability:.2f}, ~{d.diameter_mm:.1f} mm") if result.volume is not None else None
            if path:
                print(f"plot: {path}")
    return 0


def _print_annotated(scan: Path, result: ScanAnalysis, threshold: float) -> None:
    """When the scan's data set annotates it (ROOT/annotations*.csv), list its nodules and which were found."""
    from zoo.datasets.luna import read_annotations

    for root in list(scan.resolve().parents)[:2]:
        path = next((root / n for n in ("annotations_with_malignancy.csv", "annotations.csv") if (root / n).is_file()), None)
        if path is None:
            continue
        nodules = [a for a in read_annotations(path) if a.series_uid == result.series_uid]
        hit, best = match_detections(result.nodules(threshold), nodules)
        print(f"annotated in {path.name}: {len(nodules)} nodules, {int(np.isfinite(best).sum())} found "
              f"(a detection with nodule p >= {threshold} within the nodule's radius), {int((hit < 0).sum())} false positives")
        for a, b in zip(nodules, best):
            kind = "" if a.is_malignant is None else (" malignant" if a.is_malignant else " benign")
            print(f"  {'found ' if np.isfinite(b) else 'missed'} {a.center_xyz[0]:8.1f} {a.center_xyz[1]:8.1f} {a.center_xyz[2]:8.1f}"
                  f"  {a.diameter_mm:5.1f} mm{kind}")
        return


def _cmd_validate(args: Any) -> int:
    report = validate(_pipeline(args), root=args.root, split=args.split, fold=args.fold, nodule_threshold=args.threshold)
    data = "SYNTHETIC scans (numbers say nothing about real CT)" if report["synthetic"] else report["root"]
    print(f"{report['scans']} {report['split']} scans, {report['nodules']} nodules; {data}")
    print(f"at nodule probability >= {report['nodule_threshold']}: recall {report['recall']:.3f}, "
          f"{report['false_positives_per_scan']:.2f} false positives per scan")
    print(f"recall at 4 false positives per scan {report['recall_at_4_fp_per_scan']:.3f}; CPM {report['cpm']:.3f} "
          f"(sensitivity at " + ", ".join(f"{r}: {s:.2f}" for r, s in report["sensitivity_at_fp_rates"].items()) + " FP/scan)")
    if report["malignancy"]:
        from zoo.metrics import format_report

        print("benign/malignant, nodules found:\n" + format_report(report["malignancy"]))
    print(f"{report['seconds_per_scan']:.1f} s per scan")
    if args.out:
        from zoo.plots import plot_froc

        out = Path(args.out)
        write_json(report, out / "report.json")
        points = {float(r): s for r, s in report["sensitivity_at_fp_rates"].items()}
        title = f"FROC, {report['split']} split, {report['scans']} scans, {report['nodules']} nodules; CPM {report['cpm']:.3f}\n{data}"
        print(f"report: {out / 'report.json'}\nplot: {plot_froc(report['froc']['fps_per_scan'], report['froc']['sensitivity'], out / 'froc.png', points=points, title=title)}")
    return 0
