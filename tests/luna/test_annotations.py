"""The LUNA16 CSV rows and candidate matching."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.luna.annotations import Annotation, CandidateRow, MatchSummary, match_candidates, read_annotations, read_candidates


def test_matching_rules():
    a = [Annotation("s1", (0.0, 0.0, 0.0), 10.0, True), Annotation("s1", (8.0, 0.0, 0.0), 4.0, False),
         Annotation("s1", (50.0, 50.0, 50.0), 6.0, None), Annotation("s2", (0.0, 0.0, 0.0), 10.0, None)]
    c = [
        CandidateRow("s1", (3.0, 4.0, 0.0), True),    # 5 mm from nodule 0: exactly on its radius -> matched
        CandidateRow("s1", (7.0, 0.0, 0.0), True),    # inside both nodules 0 and 1: the nearest (1) wins
        CandidateRow("s1", (20.0, 0.0, 0.0), True),   # in no radius: an unmatched positive, diameter NaN
        CandidateRow("s1", (1.0, 0.0, 0.0), False),   # a negative inside a nodule stays negative
        CandidateRow("s3", (0.0, 0.0, 0.0), True),    # a scan without annotations
    ]
    infos, summary = match_candidates(c, a)
    assert (infos[0].annotation, infos[0].diameter_mm, infos[0].is_malignant) == (0, 10.0, True)
    assert (infos[1].annotation, infos[1].diameter_mm, infos[1].is_malignant) == (1, 4.0, False)
    assert infos[2].annotation == -1 and np.isnan(infos[2].diameter_mm) and infos[2].is_nodule
    assert not infos[3].is_nodule and infos[3].annotation == -1
    assert summary == MatchSummary(candidates=5, positives=4, matched_positives=2, unmatched_positives=2,
                                   negatives_inside_nodule=1, annotations=4, annotations_without_candidate=2)


def test_csv_parsing_errors(tmp_path):
    bad = tmp_path / "candidates.csv"
    bad.write_text("seriesuid,coordX,coordY,coordZ\n1.2.3,0,0,0\n")
    with pytest.raises(DataError, match="lacks the column.*class"):
        read_candidates(bad)
    bad.write_text("seriesuid,coordX,coordY,coordZ,class\n1.2.3,abc,0,0,0\n")
    with pytest.raises(DataError, match="line 2: coordX is 'abc'"):
        read_candidates(bad)
    bad.write_text("seriesuid,coordX,coordY,coordZ,class\n1.2.3,0,0,0,maybe\n")
    with pytest.raises(DataError, match="class is 'maybe'"):
        read_candidates(bad)
    ann = tmp_path / "annotations.csv"
    ann.write_text("seriesuid,coordX,coordY,coordZ,diameter_mm,mal_bool\n1.2.3,0,0,0,5.5,True\n1.2.3,0,0,0,0,False\n")
    with pytest.raises(DataError, match="diameter_mm must be positive"):
        read_annotations(ann)
    ann.write_text("seriesuid,coordX,coordY,coordZ,diameter_mm,mal_bool\n\n1.2.3,1,2,3,5.5,True\n")
    assert read_annotations(ann) == [Annotation("1.2.3", (1.0, 2.0, 3.0), 5.5, True)]


def test_csv_files_with_a_byte_order_mark_or_not_utf8_are_read_or_named(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark: without it the first column would be '\\ufeffseriesuid'."""
    path = tmp_path / "annotations.csv"
    path.write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,1,2,3,4.5\n", encoding="utf-8-sig")
    assert [a.diameter_mm for a in read_annotations(path)] == [4.5]
    path.write_bytes("seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3é,1,2,3,4.5\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"annotations.csv is not UTF-8 text \(byte 0xe9 on line 2\): re-save it as UTF-8"):
        read_annotations(path)
