"""The LUNA16 hit rule, the FROC curve and the CPM score, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.luna.analysis import Detection
from zoo.luna.froc import competition_score, froc_curve, match_detections


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
