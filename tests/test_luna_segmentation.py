"""LUNA16 nodule segmentation (the book's p2ch13): the U-Net, its loss, the derived masks, the whole-scan
cache, the ``luna_seg`` samples and augmentation, and one short run of the trainer, evaluator and
``zoo eval --plot``. The data are a few tiny synthetic scans, written once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sitk = pytest.importorskip("SimpleITK")

import zoo  # noqa: E402
from zoo.datasets import luna as L  # noqa: E402
from zoo.datasets import luna_segmentation as S  # noqa: E402
from zoo.errors import DataError, WeightsError, ZooError  # noqa: E402
from zoo.models.luna import LunaUNet, SegmentationLoss, luna_classifier, luna_unet  # noqa: E402
from zoo.weights import save_state_dict  # noqa: E402

SHAPE = (36, 80, 80)
SPLIT = {"test_fraction": 0.25}  # 4 scans: 2 train, 1 val, 1 test


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """Four small synthetic scans (read-only for the tests: copy before changing)."""
    return L.synthesize(tmp_path_factory.mktemp("luna_seg") / "root", 4, seed=5, shape=SHAPE, negatives_per_scan=4)


# ------------------------------------------------------------------------------------------ model


def test_unet_shapes_architecture_and_logits():
    torch.manual_seed(0)
    model = luna_unet()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert isinstance(model.input_norm, nn.BatchNorm2d) and model.input_norm.num_features == 7
    assert [c.out_channels for c in convs] == [16, 16, 32, 32, 64, 64, 32, 32, 16, 16, 1]
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 1 + 10
    x = torch.randn(3, 7, 64, 64) * 400
    out = model(x)
    assert out.shape == (3, 1, 64, 64) and out.dtype == torch.float32
    with torch.no_grad():
        model.head.bias.fill_(-100.0)  # logits: far below 0, never squashed into [0, 1]
    model.eval()
    assert model(x).max() < -50
    assert model(torch.randn(2, 7, 30, 50)).shape == (2, 1, 30, 50)  # any size: padded and cropped back


def test_unet_chunked_evaluation_matches():
    torch.manual_seed(1)
    model = luna_unet().eval()
    x = torch.randn(5, 7, 32, 32) * 300
    with torch.no_grad():
        whole = model(x)
        model.eval_chunk_pixels = 2 * 32 * 32
        torch.testing.assert_close(model(x), whole, rtol=1e-3, atol=1e-2)  # other batch sizes: other kernels


def test_unet_bad_inputs():
    model = luna_unet()
    with pytest.raises(DataError, match=r"\[N, 7, \*, \*\], got \[2, 3, 64, 64\]"):
        model(torch.randn(2, 3, 64, 64))
    with pytest.raises(DataError, match=r"\[N, 7, \*, \*\]"):
        model(torch.randn(7, 64, 64))
    with pytest.raises(ZooError, match="loss must be one of dice_recall, bce_dice, dice"):
        zoo.get_model("luna_unet", loss="focal")
    with pytest.raises(ValueError, match="up_mode"):
        luna_unet(up_mode="nearest")
    assert luna_unet(in_channels=3)(torch.randn(1, 3, 16, 16)).shape == (1, 1, 16, 16)


def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "classifier.safetensors"
    save_state_dict(luna_classifier(), path, metadata={"arch": "luna_classifier", "model_kwargs": "{}"})
    with pytest.raises(WeightsError, match="saved for model 'luna_classifier', not 'luna_unet'"):
        zoo.get_model("luna_unet", weights=str(path))


def test_registered_with_metadata():
    from zoo.models.complexity import count_macs
    from zoo.plugins import get_registry

    spec = get_registry().model("luna_unet")
    assert spec.task == "segmentation" and spec.meta["data"] == "luna_seg" and spec.meta["input_shape"] == (7, 64, 64)
    assert spec.meta["class_names"] == ("background", "nodule") and spec.meta["recipe"].startswith("zoo train luna_unet --data luna_seg")
    assert "[N, 1, H, W]" in spec.meta["output"] and "[N, 7, H, W]" in spec.meta["input"]
    assert isinstance(zoo.get_model("luna_unet"), LunaUNet) and count_macs(zoo.get_model("luna_unet"), (7, 64, 64)) > 10**8
    data = get_registry().dataset("luna_seg")
    assert data.task == "segmentation" and data.num_classes == 2 and "derived" in data.description
    assert get_registry().dataset("luna_seg").source == "zoo.datasets.luna_segmentation"


# ------------------------------------------------------------------------------------------- loss


def test_loss_perfect_prediction_and_recall_weighting():
    target = torch.zeros(2, 16, 16, dtype=torch.int64)
    target[:, 4:12, 4:12] = 1
    perfect = (target.float() * 40 - 20)[:, None]  # logits +/- 20
    for kind in ("dice_recall", "bce_dice", "dice"):
        assert float(SegmentationLoss(kind)(perfect, target)) < 1e-6
    loss = SegmentationLoss()  # the book's: dice + 8 x dice of the prediction inside the target
    missed = perfect.clone()
    missed[:, :, 4:6, 4:12] = -20  # 16 false negatives per sample
    extra = perfect.clone()
    extra[:, :, 12:14, 4:12] = 20  # 16 false positives per sample
    assert float(loss(missed, target)) > 5 * float(loss(extra, target)) > 0
    plain = SegmentationLoss("dice")
    assert float(plain(missed, target)) < 1.5 * float(plain(extra, target))  # nearly even without the recall term
    empty = torch.zeros(1, 16, 16, dtype=torch.int64)
    assert float(loss(torch.full((1, 1, 16, 16), -20.0), empty)) < 1e-6  # nothing to find, nothing found: 0
    with pytest.raises(ValueError, match="logits \\[N, 1, H, W\\] and target \\[N, H, W\\]"):
        loss(perfect, target[:, :8])
    assert luna_unet(loss="bce_dice").make_loss().kind == "bce_dice"


# ------------------------------------------------------------------------------------------ masks


def _sphere(shape, center, radius):
    grid = np.indices(shape)
    return ((grid - np.asarray(center).reshape(3, 1, 1, 1)) ** 2).sum(0) <= radius**2


def test_mask_of_a_sphere_in_air():
    hu = np.full((30, 40, 40), -1000, dtype=np.int16)
    ball = _sphere(hu.shape, (15, 20, 20), 5)
    hu[ball] = 40
    hu[15, 20, 33:] = 300  # a dense structure outside the box (a rib), on the column line through the centre
    hu[2:5, 2:5, 2:5] = 0  # and one elsewhere
    mask, boxes = S.derive_mask(hu, [(15, 20, 20)])
    np.testing.assert_array_equal(mask, ball)
    assert boxes.tolist() == [[[9, 14, 14], [22, 27, 27]]]  # half-width 6: the first voxel in air on a side


def test_mask_threshold_and_minimum_radius():
    hu = np.full((20, 20, 20), -1000, dtype=np.int16)
    ball = _sphere(hu.shape, (10, 10, 10), 4)
    hu[ball] = -650  # above -700
    hu[_sphere(hu.shape, (10, 10, 10), 4) & ~_sphere(hu.shape, (10, 10, 10), 3)] = -750  # a rim below -700 stays out
    mask, _ = S.derive_mask(hu, [(10, 10, 10)])
    np.testing.assert_array_equal(mask, _sphere(hu.shape, (10, 10, 10), 3))
    speck = np.full((9, 9, 9), -1000, dtype=np.int16)
    speck[4, 4, 4] = 100
    mask, boxes = S.derive_mask(speck, [(4, 4, 4)])  # the book's smallest box is +/- 2 voxels
    assert mask.sum() == 1 and (boxes[0, 1] - boxes[0, 0]).tolist() == [5, 5, 5]
    assert S.grow_radius(np.array([-1000, 0, 0, 0, 0, 0, -1000]), 3) == 3


def test_mask_of_two_nodules_and_one_at_the_edge():
    hu = np.full((24, 48, 48), -1000, dtype=np.int16)
    a, b = _sphere(hu.shape, (8, 12, 12), 4), _sphere(hu.shape, (14, 34, 30), 6)
    hu[a], hu[b] = 20, 60
    mask, _ = S.derive_mask(hu, [(8, 12, 12), (14, 34, 30)])
    np.testing.assert_array_equal(mask, a | b)
    edge = _sphere(hu.shape, (1, 45, 24), 5)  # cut by the first slice and the last row
    hu = np.full(hu.shape, -1000, dtype=np.int16)
    hu[edge] = 30
    mask, boxes = S.derive_mask(hu, [(1, 45, 24)])
    np.testing.assert_array_equal(mask, edge)  # the book's negative index would have wrapped and lost it
    assert boxes[0, 0, 0] == 0 and boxes[0, 1, 1] == 48
    with pytest.raises(DataError, match="outside the scan"):
        S.derive_mask(hu, [(24, 0, 0)])


# ------------------------------------------------------------------------------------------ cache


def test_cache_entry_round_trip(synth, tmp_path):
    data = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    assert data.cache.builds == 4 and len(data.cache.files()) == 4 and all(p.suffix == ".zseg" for p in data.cache.files())
    for s, uid in enumerate(data.series_uids):
        entry = data._entry(s)
        hu, geometry = L.read_ct(data._series[s][0])
        mask, boxes = S.derive_mask(hu, data._series[s][3]["centers_irc"])
        np.testing.assert_array_equal(np.asarray(entry.hu), hu)
        assert entry.mask.dtype == np.uint8 and entry.mask.shape == (*hu.shape[:2], (hu.shape[2] + 7) // 8)  # packed bits
        np.testing.assert_array_equal(np.stack([entry.mask_rows(z) for z in range(hu.shape[0])]), mask)
        assert entry.mask_slices.tolist() == np.flatnonzero(mask.any(axis=(1, 2))).tolist()
        assert [n["box"] for n in entry.nodules] == boxes.tolist()
        header = L.ScanCache.read_header(data.cache.path(uid))
        assert header["version"] == S.SEG_CACHE_VERSION and "derived" in header["note"]
    again = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    assert again.cache.builds == 0 and torch.equal(again.batch(range(len(again)))[1], data.batch(range(len(data)))[1])
    assert L.luna("all", root=synth, cache_dir=tmp_path / "c").prepare_cache(progress=False) == 4  # its own .zct entries
    assert len(data.cache.files()) == 4 and data.cache.clear() == 4 and len(list((tmp_path / "c").glob("*.zct"))) == 4


def test_cache_rebuilt_when_source_annotations_or_version_change(synth, tmp_path, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(synth, root)
    data = S.luna_seg("all", root=root, cache_dir=tmp_path / "c")
    uid, mhd = data.series_uids[0], data._series[0][0]
    image = sitk.ReadImage(str(mhd))
    changed = sitk.GetImageFromArray((np.clip(sitk.GetArrayFromImage(image), -1000, 1000) + 7).astype(np.int16))
    changed.CopyInformation(image)
    sitk.WriteImage(changed, str(mhd), useCompression=False)
    again = S.luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert again.cache.rebuilt == [(uid, "source scan changed")] and again.cache.builds == 1
    assert int(again._entry(0).hu[0, 0, 0]) == min(int(data._entry(0).hu[0, 0, 0]) + 7, 1000)

    lines = (root / "annotations.csv").read_text().splitlines()
    (root / "annotations.csv").write_text("\n".join(line for line in lines if not line.startswith(uid)) + "\n")
    fewer = S.luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert uid not in fewer.series_uids and fewer.cache.builds == 0  # a scan without nodules gives no samples
    (root / "annotations.csv").write_text("\n".join(lines[:1] + [lines[1]] + lines[1:]) + "\n")  # a nodule twice
    twice = S.luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert twice.cache.rebuilt == [(lines[1].split(",")[0], "crop parameters changed")]

    monkeypatch.setattr(S, "SEG_CACHE_VERSION", S.SEG_CACHE_VERSION + 1)
    newer = S.luna_seg("all", root=root, cache_dir=tmp_path / "c")
    assert newer.cache.builds == 4 and all("cache version" in reason for _, reason in newer.cache.rebuilt)


def test_truncated_entry_is_rebuilt_and_writes_are_atomic(synth, tmp_path, monkeypatch):
    def crash(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as m, pytest.raises(OSError, match="disk full"):
        m.setattr(L.os, "replace", crash)
        S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    assert list((tmp_path / "c").glob("*.zseg")) == [] and list((tmp_path / "c").glob(".*.tmp")) == []
    data = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    expected = data.batch(range(len(data)))
    entry = data.cache.files()[0]
    with open(entry, "r+b") as f:
        f.truncate(entry.stat().st_size - 100)
    again = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    got = again.batch(range(len(again)))
    assert again.cache.rebuilt == [(entry.stem, "truncated")]
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_cache_size_limit(synth, tmp_path):
    data = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    one = data.cache.files()[0].stat().st_size
    limited = S.luna_seg("all", root=synth, cache_dir=tmp_path / "d", cache_max_bytes=2 * one + 10)
    assert len(limited.cache.files()) <= 2 and limited.cache.size_bytes() <= 2 * one + 10


# ------------------------------------------------------------------------------------------ samples


def test_split_by_series_as_luna(synth, tmp_path):
    seg = {split: set(S.luna_seg(split, root=synth, cache_dir=tmp_path / "c", **SPLIT).series_uids) for split in ("train", "val", "test")}
    cls = {split: set(L.luna(split, root=synth, cache_dir=tmp_path / "c", **SPLIT).series_uids) for split in ("train", "val", "test")}
    for a in seg:
        assert seg[a] <= cls[a]  # every scan with a nodule also has candidates, in the same split
        for b in cls:
            if a != b:
                assert not seg[a] & cls[b] and not seg[a] & seg[b]
    fold = S.luna_seg("test", root=synth, cache_dir=tmp_path / "c", fold=2)
    assert {L.find_series(synth)[u][1] for u in fold.series_uids} == {2}


def test_whole_slices_with_neighbours_and_edge_clamping(synth, tmp_path):
    data = S.luna_seg("test", root=synth, cache_dir=tmp_path / "c", **SPLIT)
    assert "derived" in data.description and "SYNTHETIC" in data.description and data.synthetic
    hu, _ = L.read_ct(data._series[0][0])
    entry = data._entry(0)
    assert set(data.sample_slices[:, 1].tolist()) == set(entry.mask_slices.tolist())  # the slices with mask voxels
    x, y = data.batch(torch.arange(len(data)))
    assert x.shape == (len(data), 7, *SHAPE[1:]) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.sum((1, 2)).min() > 0 and set(y.unique().tolist()) == {0, 1} and x.min() >= -1000 and x.max() <= 1000
    depth = SHAPE[0]
    data.sample_slices = np.array([[0, 0], [0, 1], [0, depth - 1], [0, 17]])
    x, y = data.batch([0, 1, 2, 3])
    for k, z in enumerate((0, 1, depth - 1, 17)):
        for c in range(7):
            expected = hu[min(max(z - 3 + c, 0), depth - 1)]
            np.testing.assert_array_equal(x[k, c].numpy(), expected)
        np.testing.assert_array_equal(y[k].numpy(), entry.mask_rows(z))
    x0, y0 = data[3]
    assert torch.equal(x0, x[3]) and torch.equal(y0, y[3])
    with_empty = S.luna_seg("test", root=synth, cache_dir=tmp_path / "c", empty_slice_ratio=1.0, **SPLIT)
    sums = with_empty.batch(range(len(with_empty)))[1].sum((1, 2))
    assert (sums == 0).sum() == (sums > 0).sum() == len(entry.mask_slices)


def test_batches_of_slices_of_different_sizes_are_padded(synth, tmp_path):
    data = S.luna_seg("all", root=synth, cache_dir=tmp_path / "c")
    small = S.SegmentationEntry(np.full((5, 40, 60), 100, np.int16), np.full((5, 40, 8), 255, np.uint8), [], np.arange(5))
    data._entry = lambda s: small if s == 1 else S.LunaSegmentationDataset._entry(data, s)
    data.sample_slices = np.array([[0, 3], [1, 2]])
    x, y = data.batch([0, 1])
    assert x.shape == (2, 7, *SHAPE[1:]) and (x[1, :, :40, :60] == 100).all() and (x[1, :, 40:] == -1000).all()
    assert y[1, :40, :60].all() and y[1, 40:].sum() == 0 and y[1, :, 60:].sum() == 0


def test_training_crops(synth, tmp_path):
    data = S.luna_seg("train", root=synth, cache_dir=tmp_path / "c", crops_per_nodule=3, **SPLIT)
    n = len(data.nodules)
    assert len(data) == 3 * n and n > 0 and "crops" in data.description
    x, y = data.batch(torch.arange(len(data)))
    assert x.shape == (3 * n, 7, 64, 64) and y.shape == (3 * n, 64, 64) and (y.sum((1, 2)) > 0).float().mean() > 0.8
    again, _ = data.batch(torch.arange(len(data)))
    assert torch.equal(x, again)  # without augmentation every index is a fixed crop
    # draws (0.5, 0.5, 0.5): the middle mask slice of the nodule, centred on it, shifted inside the slice
    images, masks = data.read_crops(np.array([0]), np.full((1, 3), 0.5))
    s, a = data.nodules[0]
    entry, center = data._entry(int(s)), data.centers_irc[0]
    first, last = entry.nodules[int(a)]["slices"]
    z = first + (last - first + 1) // 2
    r0, c0 = L.crop_start(center[1:], SHAPE[1:], (64, 64))
    hu, _ = L.read_ct(data._series[int(s)][0])
    np.testing.assert_array_equal(images[0], hu[np.clip(np.arange(z - 3, z + 4), 0, SHAPE[0] - 1), r0 : r0 + 64, c0 : c0 + 64])
    np.testing.assert_array_equal(masks[0], entry.mask_rows(z)[r0 : r0 + 64, c0 : c0 + 64])
    torch.manual_seed(0)
    moved, _ = data.batch(torch.arange(len(data)), augment=True)
    assert moved.shape == x.shape and not torch.equal(moved, x)  # new slices, offsets and augmentation


def test_augmentation_moves_image_and_mask_together():
    torch.manual_seed(0)
    masks = torch.zeros(6, 48, 48, dtype=torch.int64)
    masks[:, 10:30, 14:22] = 1
    masks[:, 30:36, 20:40] = 1  # an asymmetric shape: an L
    images = (masks[:, None].float() * 1500 - 1000).repeat(1, 7, 1, 1)
    flip = S.SegmentationAugment(flip=True, offset=0, scale=0, rotate=False, noise=0)
    x, y = flip(images, masks)
    assert torch.equal((x[:, 3] > -250).long(), y) and y.sum() == masks.sum() and not torch.equal(y, masks)
    full = S.SegmentationAugment(noise=0)  # flip, offset, scale and rotation at the book's settings
    x, y = full(images, masks, out_size=(40, 40))
    assert x.shape == (6, 7, 40, 40) and y.shape == (6, 40, 40) and y.dtype == torch.int64
    agree = ((x[:, 3] > -250).long() == y).float().mean()
    assert agree > 0.97 and torch.equal(x[:, 0], x[:, 6])  # every slice of a stack moves the same way
    noisy, _ = S.SegmentationAugment(flip=False, offset=0, scale=0, rotate=False, noise=25)(images, masks)
    assert 20 < float((noisy - images).std()) < 30
    with pytest.raises(DataError, match="unknown augmentation option"):
        S.SegmentationAugment.from_option({"elastic": True})


def test_bad_dataset_options(synth, tmp_path):
    with pytest.raises(DataError, match="samples must be 'crops' or 'slices'"):
        S.luna_seg("train", root=synth, samples="volumes")
    with pytest.raises(DataError, match="smaller than the 96x96 training crop"):
        S.luna_seg("train", root=synth, crop_size=96, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="crops_per_nodule must be an integer >= 1"):
        S.luna_seg("train", root=synth, crops_per_nodule=0)
    with pytest.raises(DataError, match="has no split 'dev'"):
        S.luna_seg("dev", root=synth)
    root = tmp_path / "root"
    shutil.copytree(synth, root)
    (root / "annotations.csv").unlink()
    (root / "annotations_with_malignancy.csv").unlink()
    with pytest.raises(DataError, match="luna_seg needs .*annotations.csv"):
        S.luna_seg("train", root=root)
    with pytest.raises(DataError, match="cannot be downloaded"):
        S.luna_seg("train", download=True)


# ------------------------------------------------------------------------------- trainer and CLI


@pytest.mark.slow
def test_train_evaluate_and_eval_plot(synth, tmp_path, capsys):
    from zoo.cli import main
    from zoo.train import TrainConfig, train

    config = TrainConfig("luna_unet", "luna_seg", root=str(synth), epochs=1, batch_size=32, out=str(tmp_path / "run"), progress=False,
                         data_kwargs={**SPLIT, "crops_per_nodule": 16})
    result = train(config)
    report = result.test_report
    assert report["task"] == "segmentation" and report["num_samples"] > 0
    for key in ("dice", "miou", "precision", "recall", "sample_dice", "positive"):
        assert report[key] is not None
    assert {"dice", "iou", "precision", "recall"} <= set(report["positive"]) and 0 <= report["positive"]["dice"] <= 1
    assert result.history[0]["val_loss"] < 9  # dice + 8 x recall term: at most 9
    model = zoo.get_model("luna_unet", weights=str(result.weights))
    test = zoo.get_dataset("luna_seg", split="test", root=str(synth), **SPLIT)
    again = zoo.evaluate(model, test, task="segmentation", progress=False)
    assert again["dice"] == pytest.approx(report["dice"]) and again["sample_dice"]["count"] == len(test)

    capsys.readouterr()
    code = main(["eval", "luna_unet", "--data", "luna_seg", "--root", str(synth), "-d", "test_fraction=0.25", "--split", "test",
                 "--weights", str(result.weights), "--plot", str(tmp_path / "plots")])
    out = capsys.readouterr()
    assert code == 0 and "nodule" in out.out and "per-sample dice" in out.out
    overlay = tmp_path / "plots" / "luna_unet-luna_seg-test-overlays.png"
    assert overlay.is_file() and overlay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "luna_unet-luna_seg-test-confusion.png").is_file()
