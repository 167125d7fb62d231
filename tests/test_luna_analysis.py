"""End-to-end LUNA16 analysis: candidates from a segmentation, the LUNA16 hit rule, FROC/CPM, validation
bookkeeping, resampling into the trained spacing range, and the `zoo luna` commands' errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("scipy")
pytest.importorskip("SimpleITK")

from zoo.datasets.luna import CtGeometry, read_annotations, synthesize  # noqa: E402
from zoo.errors import DataError, ZooError  # noqa: E402
from zoo.luna_analysis import (  # noqa: E402
    Detection,
    NodulePipeline,
    ScanAnalysis,
    competition_score,
    froc_curve,
    match_detections,
    validate,
)


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


def _detection(xyz, p):
    return Detection((0.0, 0.0, 0.0), tuple(map(float, xyz)), 5.0, 10, p, 0.1)


def test_hits_follow_the_luna16_radius_rule():
    class Nodule:
        def __init__(self, xyz, d):
            self.center_xyz, self.diameter_mm = xyz, d

    nodules = [Nodule((0, 0, 0), 10.0), Nodule((30, 0, 0), 4.0)]
    detections = [_detection((4.9, 0, 0), 0.9), _detection((5.1, 0, 0), 0.8), _detection((31, 1, 0), 0.3), _detection((0, 1, 0), 0.95)]
    hit, best = match_detections(detections, nodules)
    assert hit.tolist() == [0, -1, 1, 0]  # 5.1 mm is outside a 10 mm nodule's 5 mm radius
    assert best.tolist() == [0.95, 0.3]


def test_froc_and_the_competition_score_by_hand():
    # 4 nodules over 2 scans: found at scores 0.9, 0.6, 0.2, never; false positives at 0.8, 0.5, 0.1.
    fps, sensitivity, thresholds = froc_curve(np.array([0.9, 0.6, 0.2, -np.inf]), np.array([0.8, 0.5, 0.1]), n_scans=2)
    assert thresholds.tolist() == [0.9, 0.8, 0.6, 0.5, 0.2, 0.1]
    assert sensitivity.tolist() == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    assert fps.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 1.5]
    cpm, at = competition_score(fps, sensitivity)
    # the curve's best sensitivity per FP rate: (0, .25), (.5, .5), (1, .75), (1.5, .75); linear in between
    assert at == pytest.approx([0.3125, 0.375, 0.5, 0.75, 0.75, 0.75, 0.75])
    assert cpm == pytest.approx(sum(at) / 7)
    with pytest.raises(DataError, match="at least one scan"):
        froc_curve(np.zeros(1), np.zeros(0), n_scans=0)


@pytest.fixture(scope="module")
def small_luna(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("luna-analysis"), 5, seed=3, shape=(36, 64, 64), nodules_per_scan=(1, 3), negatives_per_scan=5)


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


def test_zoo_luna_analyze_refuses_synthetic_weights_on_a_real_scan(tmp_path, small_luna, capsys):
    import argparse
    import shutil

    from zoo.cli import main
    from zoo.luna_analysis import _cmd_analyze

    mhd = next(small_luna.glob("subset*/*.mhd"))
    real = tmp_path / "real"
    real.mkdir()
    for suffix in (".mhd", ".raw"):
        shutil.copy(mhd.with_suffix(suffix), real / mhd.with_suffix(suffix).name)
    with pytest.raises(ZooError, match="--seg-weights W --cls-weights W --mal-weights W"):
        _cmd_analyze(argparse.Namespace(scan=str(real / mhd.name), seg_weights=None, cls_weights=None, mal_weights=None,
                                        allow_synthetic_weights=False))
    assert main(["luna", "analyze", str(tmp_path / "missing.mhd")]) != 0
    assert "missing.mhd is not a scan: pass the .mhd header" in capsys.readouterr().err


@pytest.mark.slow
def test_zoo_luna_analyze_runs_out_of_the_box_on_a_synthetic_scan(tmp_path, small_luna, capsys):
    """The shipped synthetic weights: a table, JSON, one PNG per detection, the annotated nodules listed."""
    from zoo.cli import main

    mhd = next(small_luna.glob("subset*/*.mhd"))
    out = tmp_path / "detections.json"
    assert main(["luna", "analyze", str(mhd), "--json", str(out), "--plot", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    assert "annotated in annotations_with_malignancy.csv" in printed and "SYNTHETIC" in printed
    report = json.loads(out.read_text())
    assert report["series_uid"] == mhd.stem and report["shape_irc"] == [36, 64, 64]
    for d in report["detections"]:
        assert 0.0 <= d["nodule_probability"] <= 1.0 and 0.0 <= d["malignancy_probability"] <= 1.0 and d["diameter_mm"] > 0
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(report["detections"])


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
