"""The LUNA16 data layer: geometry, CSV matching, crops, splits, the on-disk cache, balancing and
augmentation, and bad input. Every test reads real .mhd/.raw files written by the synthetic generator
(tiny scans: the suite must stay fast on two CPU cores)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

sitk = pytest.importorskip("SimpleITK")

import zoo  # noqa: E402
from zoo.datasets import luna as L  # noqa: E402
from zoo.errors import DataError  # noqa: E402

SHAPE = (40, 96, 96)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """Four synthetic scans in subset0..subset3 (read-only for the tests: copy before changing)."""
    return L.synthesize(tmp_path_factory.mktemp("luna") / "root", 4, seed=3, shape=SHAPE)


@pytest.fixture
def root_copy(synth, tmp_path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(synth, dst)
    return dst


def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------------------ geometry


def _rotated_geometry(shape=(30, 50, 60)) -> L.CtGeometry:
    rot = L._rotation(np.array([0.3, -0.5, 1.0]), 0.7)
    assert not np.allclose(rot, rot.T)  # a non-symmetric direction: the book's inverse would be wrong
    return L.CtGeometry((-170.5, 33.25, -402.0), (0.68, 0.74, 2.5), tuple(rot.flatten()), shape)


def test_patient_voxel_round_trip_with_nonsymmetric_direction():
    geometry = _rotated_geometry()
    irc = np.random.default_rng(0).uniform(0, 30, size=(200, 3))
    xyz = geometry.voxel_to_patient(irc)
    np.testing.assert_allclose(geometry.patient_to_voxel(xyz), irc, atol=1e-9)
    # The book's formula, ((xyz - origin) @ inv(direction)) / spacing, fails for this direction.
    book = ((xyz - np.asarray(geometry.origin_xyz)) @ np.linalg.inv(geometry.direction_matrix)) / np.asarray(geometry.spacing_xyz)
    assert np.abs(book[:, ::-1] - irc).max() > 1.0


def test_geometry_agrees_with_simpleitk():
    geometry = _rotated_geometry()
    image = sitk.Image([int(s) for s in geometry.shape_irc[::-1]], sitk.sitkInt16)
    image.SetOrigin(geometry.origin_xyz)
    image.SetSpacing(geometry.spacing_xyz)
    image.SetDirection(geometry.direction)
    rng = np.random.default_rng(1)
    for irc in rng.uniform(0, 29, size=(50, 3)):
        xyz = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in irc[::-1]])
        np.testing.assert_allclose(geometry.voxel_to_patient(irc), xyz, atol=1e-9)
        assert tuple(geometry.patient_to_index(xyz)) == tuple(image.TransformPhysicalPointToIndex(xyz))[::-1]


def test_synthetic_files_are_real_metaimages(synth):
    mhd = next((synth / "subset0").glob("*.mhd"))
    header = L._read_mhd_header(mhd)
    assert header["ElementType"] == "MET_SHORT" and (mhd.parent / header["ElementDataFile"]).suffix == ".raw"
    image = sitk.ReadImage(str(mhd))
    geometry = L.read_geometry(mhd)
    assert geometry.shape_irc == SHAPE and geometry.direction == image.GetDirection()
    direction = geometry.direction_matrix
    assert not np.allclose(direction, np.eye(3)) and not np.allclose(direction, direction.T)
    assert geometry.spacing_xyz[0] == geometry.spacing_xyz[1] != geometry.spacing_xyz[2]  # anisotropic
    assert min(abs(o) for o in geometry.origin_xyz) > 50
    raw = sitk.GetArrayFromImage(image)
    hu, _ = L.read_ct(mhd)
    assert raw.min() == -3024 and hu.min() == L.HU_MIN and hu.max() <= L.HU_MAX  # clipped
    np.testing.assert_array_equal(hu, np.clip(raw, -1000, 1000))
    # The candidates' voxels agree with SimpleITK's conversion of their patient coordinates.
    rows = [r for r in L.read_candidates(synth / "candidates.csv") if r.series_uid == mhd.stem]
    for r in rows[:20]:
        assert tuple(geometry.patient_to_index(r.center_xyz)) == tuple(image.TransformPhysicalPointToIndex(r.center_xyz))[::-1]


def test_synthetic_csvs_in_the_real_format(synth):
    assert _rows(synth / "candidates.csv")[0] == "seriesuid,coordX,coordY,coordZ,class"
    assert _rows(synth / "annotations.csv")[0] == "seriesuid,coordX,coordY,coordZ,diameter_mm"
    assert _rows(synth / "annotations_with_malignancy.csv")[0].endswith(",diameter_mm,mal_bool")
    candidates = L.read_candidates(synth / "candidates.csv")
    nodules = L.read_annotations(synth / "annotations_with_malignancy.csv")
    positives = sum(c.is_nodule for c in candidates)
    assert len(candidates) - positives >= 5 * positives  # many non-nodule candidates
    assert {n.is_malignant for n in nodules} == {True, False}
    malignant = [n.diameter_mm for n in nodules if n.is_malignant]
    benign = [n.diameter_mm for n in nodules if not n.is_malignant]
    assert np.mean(malignant) > np.mean(benign)
    _, summary = L.match_candidates(candidates, L.read_annotations(synth / "annotations.csv"))
    assert summary.matched_positives == positives and summary.annotations_without_candidate == 0
    assert '"synthetic": true' in (synth / L.SYNTHETIC_MARKER).read_text()


# ------------------------------------------------------------------------------------------ matching


def test_matching_rules():
    a = [L.Annotation("s1", (0.0, 0.0, 0.0), 10.0, True), L.Annotation("s1", (8.0, 0.0, 0.0), 4.0, False),
         L.Annotation("s1", (50.0, 50.0, 50.0), 6.0, None), L.Annotation("s2", (0.0, 0.0, 0.0), 10.0, None)]
    c = [
        L.CandidateRow("s1", (3.0, 4.0, 0.0), True),    # 5 mm from nodule 0: exactly on its radius -> matched
        L.CandidateRow("s1", (7.0, 0.0, 0.0), True),    # inside both nodules 0 and 1: the nearest (1) wins
        L.CandidateRow("s1", (20.0, 0.0, 0.0), True),   # in no radius: an unmatched positive, diameter NaN
        L.CandidateRow("s1", (1.0, 0.0, 0.0), False),   # a negative inside a nodule stays negative
        L.CandidateRow("s3", (0.0, 0.0, 0.0), True),    # a scan without annotations
    ]
    infos, summary = L.match_candidates(c, a)
    assert (infos[0].annotation, infos[0].diameter_mm, infos[0].is_malignant) == (0, 10.0, True)
    assert (infos[1].annotation, infos[1].diameter_mm, infos[1].is_malignant) == (1, 4.0, False)
    assert infos[2].annotation == -1 and np.isnan(infos[2].diameter_mm) and infos[2].is_nodule
    assert not infos[3].is_nodule and infos[3].annotation == -1
    assert summary == L.MatchSummary(candidates=5, positives=4, matched_positives=2, unmatched_positives=2,
                                     negatives_inside_nodule=1, annotations=4, annotations_without_candidate=2)


def test_unmatched_positive_policies(synth, tmp_path):
    rows = _rows(synth / "candidates.csv")
    uid = rows[1].split(",")[0]
    # An extra positive at the centre of the scan (between the lungs), away from every nodule.
    nodules = [n for n in L.read_annotations(synth / "annotations.csv") if n.series_uid == uid]
    geometry = L.read_geometry(next(synth.glob(f"subset*/{uid}.mhd")))
    center = geometry.voxel_to_patient(np.asarray(geometry.shape_irc) // 2)
    assert all(np.linalg.norm(center - np.asarray(n.center_xyz)) > n.diameter_mm / 2 for n in nodules)
    far = f"{uid},{center[0]},{center[1]},{center[2]},1"
    path = tmp_path / "candidates_extra.csv"
    path.write_text("\n".join(rows + [far]) + "\n")
    keep = L.luna("all", root=synth, candidates_file=str(path))
    drop = L.luna("all", root=synth, candidates_file=str(path), unmatched_positives="drop")
    assert keep.matching.unmatched_positives == 1 and len(keep) == len(drop) + 1
    with pytest.raises(DataError, match="match no annotation"):
        L.luna("all", root=synth, candidates_file=str(path), unmatched_positives="error")


# -------------------------------------------------------------------------------------- crops, splits


def test_crop_start_shifts_inside_the_volume():
    shape, size = (40, 96, 96), (32, 48, 48)
    assert L.crop_start((0, 0, 0), shape, size).tolist() == [0, 0, 0]
    assert L.crop_start((39, 95, 95), shape, size).tolist() == [8, 48, 48]
    assert L.crop_start((20, 50, 30), shape, size).tolist() == [4, 26, 6]


def test_crops_lie_inside_the_volume_and_match_the_source(synth):
    data = L.luna("all", root=synth)
    assert len(data.series_uids) == 4
    x, y = data.batch(torch.arange(len(data)))
    assert x.shape == (len(data), 1, 32, 48, 48) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= L.HU_MIN and x.max() <= L.HU_MAX
    volumes = {uid: L.read_ct(data._series[k][0])[0] for k, uid in enumerate(data.series_uids)}
    for i in range(len(data)):
        uid = data.series_uids[data._sample_series[i]]
        start, shape = data._start[i], np.asarray(volumes[uid].shape)
        assert (start >= 0).all() and (start + (32, 48, 48) <= shape).all()
        assert ((data.centers_irc[i] >= start) & (data.centers_irc[i] < start + (32, 48, 48))).all()
        z, r, c = start
        np.testing.assert_array_equal(x[i, 0].numpy(), volumes[uid][z : z + 32, r : r + 48, c : c + 48])
    item, label = data[0]
    assert item.shape == (1, 32, 48, 48) and isinstance(label, int)


def test_splits_share_no_series(synth):
    parts = {s: L.luna(s, root=synth, val_fraction=0.25, test_fraction=0.25) for s in ("train", "val", "test")}
    uids = {s: set(d.series_uids) for s, d in parts.items()}
    assert not (uids["train"] & uids["val"]) and not (uids["train"] & uids["test"]) and not (uids["val"] & uids["test"])
    assert uids["train"] | uids["val"] | uids["test"] == set(L.luna("all", root=synth).series_uids)
    # The malignancy task puts every scan in the same split; the split is fixed by the seed.
    assert set(L.luna_malignancy("test", root=synth, val_fraction=0.25, test_fraction=0.25).series_uids) <= uids["test"]
    assert set(L.luna("test", root=synth, val_fraction=0.25, test_fraction=0.25).series_uids) == uids["test"]
    series = L.find_series(synth)
    folds = {s: set(L.split_series(series, s, fold=2)) for s in ("train", "val", "test")}
    assert folds["test"] == {u for u, (_, k) in series.items() if k == 2}
    assert folds["val"] == {u for u, (_, k) in series.items() if k == 3}
    assert not (folds["train"] & (folds["val"] | folds["test"])) and len(folds["train"]) == 2


# -------------------------------------------------------------------------------------------- cache


def test_cache_second_pass_reuses_entries(synth, tmp_path):
    data = L.luna("all", root=synth, cache_dir=tmp_path / "c")
    cold, _ = data.batch(torch.arange(len(data)))
    assert data.cache.builds == 4 and len(data.cache.files()) == 4
    again = L.luna("all", root=synth, cache_dir=tmp_path / "c")
    warm, _ = again.batch(torch.arange(len(again)))
    assert again.cache.builds == 0 and torch.equal(cold, warm)
    raw = sum(p.stat().st_size for p in synth.glob("subset*/*"))
    assert data.cache.size_bytes() <= raw
    assert L.luna_malignancy("all", root=synth, cache_dir=tmp_path / "c").prepare_cache(progress=False) == 0  # shared entries


def test_cache_invalidated_by_source_change(root_copy, tmp_path):
    data = L.luna("all", root=root_copy, cache_dir=tmp_path / "c")
    before, _ = data.batch(torch.arange(len(data)))
    uid = data.series_uids[0]
    mhd = data._series[0][0]
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(mhd)))
    image = sitk.ReadImage(str(mhd))
    changed = sitk.GetImageFromArray((np.clip(hu, -1000, 1000) + 7).astype(np.int16))
    changed.CopyInformation(image)
    sitk.WriteImage(changed, str(mhd), useCompression=False)
    again = L.luna("all", root=root_copy, cache_dir=tmp_path / "c")
    after, _ = again.batch(torch.arange(len(again)))
    assert again.cache.rebuilt == [(uid, "source scan changed")] and again.cache.builds == 1
    mine = torch.from_numpy(again._sample_series == 0)
    assert torch.equal(after[mine], (before[mine] + 7).clamp(max=1000)) and torch.equal(after[~mine], before[~mine])


def test_cache_invalidated_by_crop_parameters_and_version(synth, tmp_path, monkeypatch):
    L.luna("all", root=synth, cache_dir=tmp_path / "c").prepare_cache(progress=False)
    other = L.luna("all", root=synth, cache_dir=tmp_path / "c", crop_margin=(2, 3, 3))
    assert other.prepare_cache(progress=False) == 4
    assert {reason for _, reason in other.cache.rebuilt} == {"crop parameters changed"}
    monkeypatch.setattr(L, "CACHE_VERSION", L.CACHE_VERSION + 1)
    newer = L.luna("all", root=synth, cache_dir=tmp_path / "c", crop_margin=(2, 3, 3))
    assert newer.prepare_cache(progress=False) == 4
    assert all("cache version" in reason for _, reason in newer.cache.rebuilt)
    assert {L.ScanCache.read_header(p)["version"] for p in newer.cache.files()} == {L.CACHE_VERSION}


def test_cache_writes_are_atomic(synth, tmp_path, monkeypatch):
    def crash(src, dst):
        raise OSError("disk full")

    data = L.luna("all", root=synth, cache_dir=tmp_path / "c")
    with monkeypatch.context() as m, pytest.raises(OSError, match="disk full"):
        m.setattr(L.os, "replace", crash)
        data[0]
    assert data.cache.files() == [] and list((tmp_path / "c").glob(".*.tmp")) == []  # nothing half-written remains
    expected, _ = data.batch(torch.arange(len(data)))
    entry = data.cache.files()[0]
    with open(entry, "r+b") as f:  # a truncated entry (a crash of an older, non-atomic writer) is rebuilt
        f.truncate(entry.stat().st_size - 1000)
    again = L.luna("all", root=synth, cache_dir=tmp_path / "c")
    got, _ = again.batch(torch.arange(len(again)))
    assert again.cache.rebuilt == [(entry.stem, "truncated")] and torch.equal(got, expected)


def test_cache_is_safe_with_dataloader_workers(synth, tmp_path):
    data = L.luna("all", root=synth, cache_dir=tmp_path / "c")
    loader = torch.utils.data.DataLoader(data, batch_size=16, num_workers=2)
    got = torch.cat([x for x, _ in loader])
    assert len(data.cache.files()) == 4 and list((tmp_path / "c").glob(".*.tmp")) == []
    reference = L.luna("all", root=synth, cache_dir=tmp_path / "c2")
    assert torch.equal(got, reference.batch(torch.arange(len(reference)))[0])


def test_cache_size_limit_and_clear(synth, tmp_path):
    probe = L.luna("all", root=synth, cache_dir=tmp_path / "probe")
    probe.prepare_cache(progress=False)
    entry = max(p.stat().st_size for p in probe.cache.files())
    limit = int(entry * 2.5)
    data = L.luna("all", root=synth, cache_dir=tmp_path / "c", cache_max_bytes=limit)
    data.batch(torch.arange(len(data)))
    assert data.cache.size_bytes() <= limit and len(data.cache.files()) == 2
    assert data.cache.clear() == 2 and data.cache.files() == []


# -------------------------------------------------------------------------------- balance, augment


def test_class_balancing(synth):
    data = L.luna("train", root=synth, balance_ratio=2, test_fraction=0.25, val_fraction=0.25)
    n_pos, n_neg = int(data.labels.sum()), int((data.labels == 0).sum())
    assert len(data) == -(-n_neg // 2) * 3  # every negative once per epoch
    labels = data.label_of(range(len(data)))
    assert labels[::3].eq(1).all() and labels[1::3].eq(0).all() and labels[2::3].eq(0).all()
    assert len(set(data.sample_ids(np.flatnonzero(labels.numpy() == 0)).tolist())) == n_neg
    first = data.sample_ids(range(len(data)))
    data.set_epoch(2)
    assert not np.array_equal(first, data.sample_ids(range(len(data))))
    per_epoch = L.luna("train", root=synth, balance_ratio=[1, 3], epoch_size=40, test_fraction=0.25, val_fraction=0.25)
    assert len(per_epoch) == 40 and per_epoch.label_of(range(40)).sum() == 20
    per_epoch.set_epoch(5)
    assert per_epoch.label_of(range(40)).sum() == 10
    test = L.luna("test", root=synth, balance_ratio=2, test_fraction=0.25, val_fraction=0.25)
    assert len(test) == len(test.labels) and test.augment is None  # other splits keep the natural mix
    assert n_pos > 0


def test_offset_really_moves_the_crop(synth):
    data = L.luna("train", root=synth, augment=False, test_fraction=0.25, val_fraction=0.25)
    ids = np.arange(len(data))
    margin = torch.from_numpy(data.crops(ids, margin=True)).float()
    base = torch.from_numpy(data._start - data._margin_start - np.asarray(L.CROP_MARGIN)).float()
    hu = {k: L.read_ct(s[0])[0] for k, s in enumerate(data._series)}
    shift = torch.tensor([2.0, -3.0, 4.0])
    moved = L.affine_resample(margin, torch.eye(3).repeat(len(ids), 1, 1), base + shift, L.CROP_SIZE)
    for i in ids[:: max(1, len(ids) // 10)]:
        z, r, c = data._start[i] + shift.long().numpy()
        volume = hu[int(data._sample_series[i])]
        if z < 0 or r < 0 or c < 0 or z + 32 > volume.shape[0] or r + 48 > volume.shape[1] or c + 48 > volume.shape[2]:
            continue  # beyond the scan: the border is repeated instead
        np.testing.assert_allclose(moved[i, 0].numpy(), volume[z : z + 32, r : r + 48, c : c + 48], atol=0.05)
    # Through the dataset: no augmentation reproduces the plain crop exactly (even at the borders) ...
    identity = L.LunaAugment(flip=False, offset=0, scale=0, rotate=False, noise=0)
    data.augment = identity
    plain, _ = data.batch(torch.from_numpy(ids))
    same, _ = data.batch(torch.from_numpy(ids), augment=True)
    assert torch.allclose(plain, same, atol=0.05)  # HU, up to float rounding of the sampling grid
    # ... and an offset brings in voxels from outside the plain crop.
    data.augment = L.LunaAugment(flip=False, offset=0.25, scale=0, rotate=False, noise=0)
    torch.manual_seed(0)
    shifted, _ = data.batch(torch.from_numpy(ids), augment=True)
    assert (shifted - plain).abs().amax(dim=(1, 2, 3, 4)).gt(1).float().mean() > 0.9


def test_rotation_is_about_the_index_axis_in_millimetres():
    v = torch.randn(1, 1, 8, 10, 10)
    quarter = torch.tensor([[[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]])
    np.testing.assert_allclose(L.affine_resample(v, quarter, torch.zeros(1, 3), (8, 10, 10)).numpy(),
                               torch.rot90(v, -1, dims=(3, 4)).numpy(), atol=1e-5)
    aug = L.LunaAugment(flip=False, offset=0, scale=0, rotate=True, noise=0)
    disk = torch.zeros(1, 1, 8, 33, 33)
    rr, cc = torch.meshgrid(torch.arange(33) - 16.0, torch.arange(33) - 16.0, indexing="ij")
    disk[..., (rr * 0.5) ** 2 + cc**2 <= 36] = 1  # a disk of 6 mm when rows are 0.5 mm and columns 1 mm apart
    torch.manual_seed(1)  # draws an angle of about 273 degrees
    in_mm = aug(disk, spacing_irc=torch.tensor([[2.0, 0.5, 1.0]]))
    torch.manual_seed(1)
    in_voxels = aug(disk)  # the same angle, ignoring the spacing: the disk turns into another ellipse
    assert (in_mm - disk).abs().mean() < 0.03 < 0.1 < (in_voxels - disk).abs().mean()


def test_augmented_batches(synth):
    data = L.luna("train", root=synth, balance_ratio=1, test_fraction=0.25, val_fraction=0.25)
    assert isinstance(data.augment, L.LunaAugment)
    torch.manual_seed(0)
    x, y = data.batch(torch.arange(8), augment=True)
    plain, _ = data.batch(torch.arange(8))
    assert x.shape == (8, 1, 32, 48, 48) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert not torch.equal(x, plain)
    noise_only = L.LunaAugment(flip=False, offset=0, scale=0, rotate=False, noise=25.0)
    assert abs(float((noise_only(plain) - plain).std()) - 25.0) < 1.0
    with pytest.raises(DataError, match="unknown augmentation"):
        L.luna("train", root=synth, augment={"flips": True})
    # Malignancy keeps the nodules' size: its default augmentation does not rescale.
    assert L.luna_malignancy("train", root=synth, test_fraction=0.25, val_fraction=0.25).augment.scale == 0


# ------------------------------------------------------------------------------------------ bad input


def test_bad_roots_and_files(synth, tmp_path):
    with pytest.raises(DataError, match="registering at https://luna16.grand-challenge.org"):
        L.luna(root=synth, download=True)
    with pytest.raises(DataError, match="no subset folders"):
        L.luna(root=tmp_path)
    with pytest.raises(DataError, match="subset7"):
        L.luna(root=synth, subsets=[0, 7])
    with pytest.raises(DataError, match="subset9 is not present"):
        L.luna(root=synth, fold=9)
    bad = tmp_path / "bad.csv"
    bad.write_text("seriesuid,coordX,coordY,coordZ\n1.2.3,0,0,0\n")
    with pytest.raises(DataError, match="lacks the column.*class"):
        L.luna(root=synth, candidates_file=str(bad))
    rows = _rows(synth / "candidates.csv")
    uid = rows[1].split(",")[0]
    bad.write_text("\n".join(rows + [f"{uid},1e4,0,0,0"]) + "\n")
    with pytest.raises(DataError, match="outside the scan"):
        L.luna("all", root=synth, candidates_file=str(bad))
    bad.write_text("\n".join(rows + [f"{uid},abc,0,0,0"]) + "\n")
    with pytest.raises(DataError, match=f"line {len(rows) + 1}: coordX is 'abc'"):
        L.luna("all", root=synth, candidates_file=str(bad))


def test_truncated_raw_is_an_error(root_copy):
    raw = next(root_copy.glob("subset1/*.raw"))
    with open(raw, "r+b") as f:
        f.truncate(raw.stat().st_size // 2)
    with pytest.raises(DataError, match=f"{raw.name} is truncated"):
        L.luna("all", root=root_copy)


# ------------------------------------------------------------------------------------------ plumbing


def test_registered_and_loadable(synth):
    from zoo.plugins import get_registry

    for name, names in (("luna", ("non-nodule", "nodule")), ("luna_malignancy", ("benign", "malignant"))):
        spec = get_registry().dataset(name)
        assert (spec.task, spec.num_classes, spec.class_names, spec.meta["extra"]) == ("classification", 2, names, "luna")
    data = zoo.get_dataset("luna_malignancy", split="all", root=str(synth))
    assert data.class_names == ("benign", "malignant") and set(data.labels.tolist()) == {0, 1}
    assert data.synthetic and "SYNTHETIC" in data.description


def test_default_root_is_synthesised_and_announced(monkeypatch, capsys):
    monkeypatch.setattr(L, "_DEFAULT_SYNTHETIC", {"n_scans": 3, "seed": 1, "shape": SHAPE})
    data = L.luna("all")
    assert data.root == Path(os.environ["ZOO_DATA"]) / "luna-synthetic" and data.synthetic
    assert "synthetic" in capsys.readouterr().err
    assert len(L.luna("all").series_uids) == 3  # generated once, then reused


def test_commands(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="zoo")
    L.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "synth-luna", str(tmp_path / "r"), "--scans", "2", "--seed", "5"])
    assert args.run(args) == 0 and len(list((tmp_path / "r").glob("subset*/*.mhd"))) == 2
    args = parser.parse_args(["cache", "luna", "--prepare", "--root", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and len(list((tmp_path / "c").glob("*.zct"))) == 2
    assert "2 of 2 scans written" in capsys.readouterr().out
    args = parser.parse_args(["cache", "luna", "--clear", "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and list((tmp_path / "c").glob("*.zct")) == []
    args = parser.parse_args(["cache", "luna_seg", "--prepare", "--root", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and len(list((tmp_path / "c").glob("*.zseg"))) == 2  # whole scans + derived masks
    args = parser.parse_args(["cache", "luna_seg", "--clear", "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and list((tmp_path / "c").glob("*.zseg")) == []
    with pytest.raises(SystemExit):
        parser.parse_args(["cache", "luna"])  # --prepare or --clear is required
