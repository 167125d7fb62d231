"""The on-disk cache: crop regions (``.zct``) and whole scans with derived masks (``.zseg``): reuse,
invalidation, atomic writes with the usual permissions, DataLoader workers, the size limit."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from zoo.files import current_umask
from zoo.luna import cache as C
from zoo.luna.datasets import luna, luna_malignancy
from zoo.luna.geometry import read_ct
from zoo.luna.masks import derive_mask
from zoo.luna.segmentation import luna_seg

sitk = pytest.importorskip("SimpleITK")


def _crash(src, dst):
    raise OSError("disk full")


def _shift_scan(mhd, by: int = 7) -> None:
    """Rewrite a scan with every voxel ``by`` HU higher (same geometry): a changed source."""
    image = sitk.ReadImage(str(mhd))
    changed = sitk.GetImageFromArray((np.clip(sitk.GetArrayFromImage(image), -1000, 1000) + by).astype(np.int16))
    changed.CopyInformation(image)
    sitk.WriteImage(changed, str(mhd), useCompression=False)


# ------------------------------------------------------------------------------------------ crop regions


def test_cache_second_pass_reuses_entries(luna_root, tmp_path):
    data = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    cold, _ = data.batch(torch.arange(len(data)))
    assert data.cache.builds == 4 and len(data.cache.files()) == 4
    again = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    warm, _ = again.batch(torch.arange(len(again)))
    assert again.cache.builds == 0 and torch.equal(cold, warm)
    raw = sum(p.stat().st_size for p in luna_root.glob("subset*/*"))
    assert data.cache.size_bytes() <= raw
    assert luna_malignancy("all", root=luna_root, cache_dir=tmp_path / "c").prepare_cache(progress=False) == 0  # shared entries


def test_cache_entries_get_the_usual_permissions(luna_root, tmp_path):
    data = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    data.prepare_cache(progress=False)
    modes = {p.stat().st_mode & 0o777 for p in data.cache.files()}
    assert modes == {0o666 & ~current_umask()}  # as a plain open() would give, not mkstemp's 0600


def test_cache_invalidated_by_source_change(root_copy, tmp_path):
    data = luna("all", root=root_copy, cache_dir=tmp_path / "c")
    before, _ = data.batch(torch.arange(len(data)))
    uid = data.series_uids[0]
    _shift_scan(data.scan_paths[uid])
    again = luna("all", root=root_copy, cache_dir=tmp_path / "c")
    after, _ = again.batch(torch.arange(len(again)))
    assert again.cache.rebuilt == [(uid, "source scan changed")] and again.cache.builds == 1
    mine = torch.from_numpy(again._sample_series == 0)
    assert torch.equal(after[mine], (before[mine] + 7).clamp(max=1000)) and torch.equal(after[~mine], before[~mine])


def test_cache_invalidated_by_crop_parameters_and_version(luna_root, tmp_path, monkeypatch):
    luna("all", root=luna_root, cache_dir=tmp_path / "c").prepare_cache(progress=False)
    other = luna("all", root=luna_root, cache_dir=tmp_path / "c", crop_margin=(2, 3, 3))
    assert other.prepare_cache(progress=False) == 4
    assert {reason for _, reason in other.cache.rebuilt} == {"crop parameters changed"}
    monkeypatch.setattr(C, "CACHE_VERSION", C.CACHE_VERSION + 1)
    newer = luna("all", root=luna_root, cache_dir=tmp_path / "c", crop_margin=(2, 3, 3))
    assert newer.prepare_cache(progress=False) == 4
    assert all("cache version" in reason for _, reason in newer.cache.rebuilt)
    assert {C.ScanCache.read_header(p)["version"] for p in newer.cache.files()} == {C.CACHE_VERSION}


def test_cache_writes_are_atomic(luna_root, tmp_path, monkeypatch):
    data = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    with monkeypatch.context() as m, pytest.raises(OSError, match="disk full"):
        m.setattr(os, "replace", _crash)
        data[0]
    assert data.cache.files() == [] and list((tmp_path / "c").glob(".*.tmp")) == []  # nothing half-written remains
    expected, _ = data.batch(torch.arange(len(data)))
    entry = data.cache.files()[0]
    with open(entry, "r+b") as f:  # a truncated entry (a crash of an older, non-atomic writer) is rebuilt
        f.truncate(entry.stat().st_size - 1000)
    again = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    got, _ = again.batch(torch.arange(len(again)))
    assert again.cache.rebuilt == [(entry.stem, "truncated")] and torch.equal(got, expected)


def test_cache_is_safe_with_dataloader_workers(luna_root, tmp_path):
    data = luna("all", root=luna_root, cache_dir=tmp_path / "c")
    loader = torch.utils.data.DataLoader(data, batch_size=16, num_workers=2)
    got = torch.cat([x for x, _ in loader])
    assert len(data.cache.files()) == 4 and list((tmp_path / "c").glob(".*.tmp")) == []
    reference = luna("all", root=luna_root, cache_dir=tmp_path / "c2")
    assert torch.equal(got, reference.batch(torch.arange(len(reference)))[0])


def test_cache_size_limit_and_clear(luna_root, tmp_path):
    probe = luna("all", root=luna_root, cache_dir=tmp_path / "probe")
    probe.prepare_cache(progress=False)
    entry = max(p.stat().st_size for p in probe.cache.files())
    limit = int(entry * 2.5)
    data = luna("all", root=luna_root, cache_dir=tmp_path / "c", cache_max_bytes=limit)
    data.batch(torch.arange(len(data)))
    assert data.cache.size_bytes() <= limit and len(data.cache.files()) == 2
    assert data.cache.clear() == 2 and data.cache.files() == []


# ------------------------------------------------------------------------------------------ whole scans + masks


def test_segmentation_entry_round_trip(seg_root, tmp_path):
    data = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    assert data.cache.builds == 4 and len(data.cache.files()) == 4 and all(p.suffix == ".zseg" for p in data.cache.files())
    for s, uid in enumerate(data.series_uids):
        entry = data._entry(s)
        hu, geometry = read_ct(data.scan_paths[uid])
        mask, boxes = derive_mask(hu, data._series[s][3]["centers_irc"])
        np.testing.assert_array_equal(np.asarray(entry.hu), hu)
        assert entry.mask.dtype == np.uint8 and entry.mask.shape == (*hu.shape[:2], (hu.shape[2] + 7) // 8)  # packed bits
        np.testing.assert_array_equal(np.stack([entry.mask_rows(z) for z in range(hu.shape[0])]), mask)
        assert entry.mask_slices.tolist() == np.flatnonzero(mask.any(axis=(1, 2))).tolist()
        assert [n["box"] for n in entry.nodules] == boxes.tolist()
        header = C.ScanCache.read_header(data.cache.path(uid))
        assert header["version"] == C.SEG_CACHE_VERSION and "derived" in header["note"]
    again = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    assert again.cache.builds == 0 and torch.equal(again.batch(range(len(again)))[1], data.batch(range(len(data)))[1])
    assert luna("all", root=seg_root, cache_dir=tmp_path / "c").prepare_cache(progress=False) == 4  # its own .zct entries
    assert len(data.cache.files()) == 4 and data.cache.clear() == 4 and len(list((tmp_path / "c").glob("*.zct"))) == 4


def test_segmentation_entry_rebuilt_when_source_annotations_or_version_change(seg_root, tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(seg_root, root)
    data = luna_seg("all", root=root, cache_dir=tmp_path / "c")
    uid = data.series_uids[0]
    _shift_scan(data.scan_paths[uid])
    again = luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert again.cache.rebuilt == [(uid, "source scan changed")] and again.cache.builds == 1
    assert int(again._entry(0).hu[0, 0, 0]) == min(int(data._entry(0).hu[0, 0, 0]) + 7, 1000)

    lines = (root / "annotations.csv").read_text().splitlines()
    (root / "annotations.csv").write_text("\n".join(line for line in lines if not line.startswith(uid)) + "\n")
    fewer = luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert uid not in fewer.series_uids and fewer.cache.builds == 0  # a scan without nodules gives no samples
    (root / "annotations.csv").write_text("\n".join(lines[:1] + [lines[1]] + lines[1:]) + "\n")  # a nodule twice
    twice = luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert twice.cache.rebuilt == [(lines[1].split(",")[0], "crop parameters changed")]

    monkeypatch.setattr(C, "SEG_CACHE_VERSION", C.SEG_CACHE_VERSION + 1)
    newer = luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert newer.cache.builds == 4 and all("cache version" in reason for _, reason in newer.cache.rebuilt)


def test_segmentation_truncated_entry_is_rebuilt_and_writes_are_atomic(seg_root, tmp_path, monkeypatch):
    with monkeypatch.context() as m, pytest.raises(OSError, match="disk full"):
        m.setattr(os, "replace", _crash)
        luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    assert list((tmp_path / "c").glob("*.zseg")) == [] and list((tmp_path / "c").glob(".*.tmp")) == []
    data = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    expected = data.batch(range(len(data)))
    entry = data.cache.files()[0]
    with open(entry, "r+b") as f:
        f.truncate(entry.stat().st_size - 100)
    again = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    got = again.batch(range(len(again)))
    assert again.cache.rebuilt == [(entry.stem, "truncated")]
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_segmentation_cache_size_limit(seg_root, tmp_path):
    data = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    one = data.cache.files()[0].stat().st_size
    limited = luna_seg("all", root=seg_root, cache_dir=tmp_path / "d", cache_max_bytes=2 * one + 10)
    assert len(limited.cache.files()) <= 2 and limited.cache.size_bytes() <= 2 * one + 10
