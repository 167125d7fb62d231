"""End-to-end LUNA16 analysis: candidates from a segmentation, validation bookkeeping, resampling into the
trained spacing range, and wrong weights or corrupt scans. The hit rule and FROC/CPM are in test_froc.py,
the `zoo luna` commands in test_commands.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("scipy")
pytest.importorskip("SimpleITK")

from zoo.errors import DataError  # noqa: E402
from zoo.luna.analysis import Detection, NodulePipeline, ScanAnalysis, validate  # noqa: E402
from zoo.luna.annotations import read_annotations  # noqa: E402
from zoo.luna.geometry import CtGeometry  # noqa: E402


class ThresholdSegmenter(nn.Module):
    """Stand-in for luna_unet: marks the centre slice's voxels above -500 HU (logit +-10)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x[:, 3:4] > -500, 10.0, -10.0)


class ConstantClassifier(nn.Module):
    """Stand-in for the classifiers: the same two logits for every crop."""

    def __init__(self, logits: tuple[float, float]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (1, 32, 48, 48)
        return self.logits.expand(len(x), 2)


def _pipeline(**options) -> NodulePipeline:
    return NodulePipeline(ThresholdSegmenter(), ConstantClassifier((0.0, math.log(3))), ConstantClassifier((math.log(4), 0.0)), **options)


def _rotation_geometry(shape, spacing_irc=(2.0, 0.7, 0.7)) -> CtGeometry:
    angle = 0.3
    direction = np.array([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    return CtGeometry((-150.0, -170.0, -300.0), tuple(spacing_irc[::-1]), tuple(direction.flatten()), tuple(shape))


def _spheres(shape, spacing_irc, nodules):
    """Air at -1000 HU with spheres ``(centre_irc, radius_mm)`` at 40 HU."""
    volume = np.full(shape, -1000.0, dtype=np.float32)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1).astype(np.float64)
    for centre, radius in nodules:
        inside = np.linalg.norm((grid - np.asarray(centre)) * np.asarray(spacing_irc), axis=-1) <= radius
        volume[inside] = 40.0
    return volume


def test_detections_sit_at_the_segmented_nodules_in_voxels_and_millimetres():
    shape, spacing = (40, 96, 96), (2.0, 0.7, 0.7)
    nodules = [((12.0, 30.0, 30.0), 5.0), ((27.0, 60.0, 70.0), 3.0)]
    geometry = _rotation_geometry(shape, spacing)
    result = _pipeline().analyze(_spheres(shape, spacing, nodules), geometry, series_uid="hand-made")
    assert len(result.detections) == 2
    by_index = sorted(result.detections, key=lambda d: d.center_irc[0])
    for detection, (centre, radius) in zip(by_index, nodules):
        np.testing.assert_allclose(detection.center_irc, centre, atol=0.01)
        np.testing.assert_allclose(detection.center_xyz, geometry.voxel_to_patient(centre), atol=0.02)
        assert detection.diameter_mm == pytest.approx(2 * radius, rel=0.15)  # voxelised sphere
        assert detection.nodule_probability == pytest.approx(0.75)
        assert detection.malignancy_probability == pytest.approx(0.2)
    assert "2 candidates, 2 with nodule probability >= 0.5" in result.table()
    assert json.loads(json.dumps(result.to_json()))["detections"][0]["voxels"] > 0


def test_an_empty_scan_reports_no_nodules():
    shape = (40, 64, 64)
    result = _pipeline().analyze(np.full(shape, -1000.0, dtype=np.float32), _rotation_geometry(shape))
    assert result.detections == []
    assert "no nodules found" in result.table()


def test_a_scan_outside_the_trained_spacing_range_is_resampled_and_positions_stay_right():
    shape, spacing = (96, 96, 96), (0.7, 0.7, 0.7)  # thin slices; the range asks for 1.25-2.5 mm
    centre = (50.0, 40.0, 52.0)
    geometry = _rotation_geometry(shape, spacing)
    pipeline = _pipeline(spacing_range=((1.25, 2.5), (0.6, 0.9), (0.6, 0.9)))
    result = pipeline.analyze(_spheres(shape, spacing, [(centre, 6.0)]), geometry)
    assert result.resampled_to is not None and 1.25 <= result.resampled_to[0] <= 1.3
    assert "resampled" in result.notes[0]
    (detection,) = result.detections
    assert np.linalg.norm(np.subtract(detection.center_xyz, geometry.voxel_to_patient(centre))) < 1.0  # mm
    assert detection.diameter_mm == pytest.approx(12.0, rel=0.15)


@pytest.mark.parametrize("volume, message", [
    (np.zeros((10, 64, 64), np.float32), "classifiers need at least"),
    (np.zeros((64, 64), np.float32), r"\[D, H, W\]"),
    (np.full((40, 64, 64), np.nan, np.float32), "NaN"),
])
def test_bad_volumes_are_refused(volume, message):
    with pytest.raises(DataError, match=message):
        _pipeline().analyze(volume, _rotation_geometry((40, 64, 64)))


def test_validate_counts_hits_false_positives_and_malignancy(small_luna):
    """A stand-in pipeline that reports every annotated nodule (score 0.9, malignancy right) plus one
    false positive per scan at 0.6: recall 1, 1 FP/scan at threshold 0.5, none at 0.7."""
    annotations = read_annotations(small_luna / "annotations_with_malignancy.csv")

    class Oracle:
        def analyze_scan(self, path):
            uid = path.stem
            own = [a for a in annotations if a.series_uid == uid]
            detections = [Detection((0.0,) * 3, a.center_xyz, a.diameter_mm, 50, 0.9, 0.8 if a.is_malignant else 0.1) for a in own]
            detections.append(Detection((0.0,) * 3, (1e4, 1e4, 1e4), 3.0, 5, 0.6, 0.5))
            return ScanAnalysis(uid, str(path), (1, 1, 1), (1.0, 1.0, 1.0), detections, 0.01)

    report = validate(Oracle(), root=small_luna, split="all", progress=False)
    assert report["scans"] == 5 and report["nodules"] == len(annotations)
    assert report["recall"] == 1.0 and report["false_positives_per_scan"] == 1.0
    assert report["sensitivity_at_fp_rates"]["0.125"] == 1.0 and report["cpm"] == 1.0
    assert report["malignancy"]["accuracy"] == 1.0 and report["synthetic"] is True  # marked by its SYNTHETIC.json
    strict = validate(Oracle(), root=small_luna, split="all", nodule_threshold=0.7, progress=False)
    assert strict["false_positives_per_scan"] == 0.0
    subsets = sorted(int(p.name[6:]) for p in small_luna.glob("subset*"))
    folded = validate(Oracle(), root=small_luna, split="test", fold=subsets[0], progress=False)
    assert folded["scans"] == len(list((small_luna / f"subset{subsets[0]}").glob("*.mhd")))
    assert folded["split"] == f"test (fold {subsets[0]})"


def test_weights_for_the_wrong_model_and_corrupt_scans_are_refused(tmp_path, small_luna):
    from zoo.errors import WeightsError
    from zoo.weights import read_manifest, shipped_manifest_path

    classifier_file = read_manifest(shipped_manifest_path())["luna_classifier.synthetic"].path
    with pytest.raises(WeightsError, match="saved for model 'luna_classifier', not 'luna_unet'"):
        NodulePipeline.from_weights(seg_weights=str(classifier_file))
    mhd = next(small_luna.glob("subset*/*.mhd"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / mhd.name).write_bytes(mhd.read_bytes())
    (broken / mhd.with_suffix(".raw").name).write_bytes(mhd.with_suffix(".raw").read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated|bytes"):
        _pipeline().analyze_scan(broken / mhd.name)
