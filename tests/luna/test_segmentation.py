"""The ``luna_seg`` dataset: whole-slice and crop samples, padding, bad options, and one short run of the
trainer, evaluator and ``zoo eval --plot``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import zoo
from zoo.errors import DataError
from zoo.luna.cache import SegmentationEntry
from zoo.luna.geometry import crop_start, read_ct
from zoo.luna.segmentation import LunaSegmentationDataset, luna_seg

from .conftest import SEG_SHAPE as SHAPE

pytest.importorskip("SimpleITK")

SPLIT = {"test_fraction": 0.25}  # 4 scans: 2 train, 1 val, 1 test


def test_whole_slices_with_neighbours_and_edge_clamping(seg_root, tmp_path):
    data = luna_seg("test", root=seg_root, cache_dir=tmp_path / "c", **SPLIT)
    assert "derived" in data.description and "SYNTHETIC" in data.description and data.synthetic
    hu, _ = read_ct(data._series[0][0])
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
    with_empty = luna_seg("test", root=seg_root, cache_dir=tmp_path / "c", empty_slice_ratio=1.0, **SPLIT)
    sums = with_empty.batch(range(len(with_empty)))[1].sum((1, 2))
    assert (sums == 0).sum() == (sums > 0).sum() == len(entry.mask_slices)


def test_batches_of_slices_of_different_sizes_are_padded(seg_root, tmp_path):
    data = luna_seg("all", root=seg_root, cache_dir=tmp_path / "c")
    small = SegmentationEntry(np.full((5, 40, 60), 100, np.int16), np.full((5, 40, 8), 255, np.uint8), [], np.arange(5))
    data._entry = lambda s: small if s == 1 else LunaSegmentationDataset._entry(data, s)
    data.sample_slices = np.array([[0, 3], [1, 2]])
    x, y = data.batch([0, 1])
    assert x.shape == (2, 7, *SHAPE[1:]) and (x[1, :, :40, :60] == 100).all() and (x[1, :, 40:] == -1000).all()
    assert y[1, :40, :60].all() and y[1, 40:].sum() == 0 and y[1, :, 60:].sum() == 0


def test_training_crops(seg_root, tmp_path):
    data = luna_seg("train", root=seg_root, cache_dir=tmp_path / "c", crops_per_nodule=3, **SPLIT)
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
    r0, c0 = crop_start(center[1:], SHAPE[1:], (64, 64))
    hu, _ = read_ct(data._series[int(s)][0])
    np.testing.assert_array_equal(images[0], hu[np.clip(np.arange(z - 3, z + 4), 0, SHAPE[0] - 1), r0 : r0 + 64, c0 : c0 + 64])
    np.testing.assert_array_equal(masks[0], entry.mask_rows(z)[r0 : r0 + 64, c0 : c0 + 64])
    torch.manual_seed(0)
    moved, _ = data.batch(torch.arange(len(data)), augment=True)
    assert moved.shape == x.shape and not torch.equal(moved, x)  # new slices, offsets and augmentation


@pytest.mark.parametrize("samples", ["slices", "crops"])
def test_negative_indices_count_from_the_end(seg_root, tmp_path, samples):
    data = luna_seg("train", root=seg_root, cache_dir=tmp_path / "c", samples=samples, **SPLIT)
    n = len(data)
    for a, b in ((data[-1], data[n - 1]), (data[-n], data[0])):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for bad in (n, -n - 1):
        with pytest.raises(IndexError, match=f"out of range for a dataset of {n} samples"):
            data[bad]


def test_bad_dataset_options(seg_root, tmp_path):
    with pytest.raises(DataError, match="samples must be 'crops' or 'slices'"):
        luna_seg("train", root=seg_root, samples="volumes")
    with pytest.raises(DataError, match="smaller than the 96x96 training crop"):
        luna_seg("train", root=seg_root, crop_size=96, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="crops_per_nodule must be an integer >= 1"):
        luna_seg("train", root=seg_root, crops_per_nodule=0)
    with pytest.raises(DataError, match="has no split 'dev'"):
        luna_seg("dev", root=seg_root)
    root = tmp_path / "root"
    shutil.copytree(seg_root, root)
    (root / "annotations.csv").unlink()
    (root / "annotations_with_malignancy.csv").unlink()
    with pytest.raises(DataError, match="luna_seg needs .*annotations.csv"):
        luna_seg("train", root=root)
    with pytest.raises(DataError, match="cannot be downloaded"):
        luna_seg("train", download=True)


@pytest.mark.slow
def test_train_evaluate_and_eval_plot(seg_root, tmp_path, capsys):
    from zoo.cli import main
    from zoo.train import TrainConfig, train

    config = TrainConfig("luna_unet", "luna_seg", root=str(seg_root), epochs=1, batch_size=32, out=str(tmp_path / "run"), progress=False,
                         data_kwargs={**SPLIT, "crops_per_nodule": 16})
    result = train(config)
    report = result.test_report
    assert report["task"] == "segmentation" and report["num_samples"] > 0
    for key in ("dice", "miou", "precision", "recall", "sample_dice", "positive"):
        assert report[key] is not None
    assert {"dice", "iou", "precision", "recall"} <= set(report["positive"]) and 0 <= report["positive"]["dice"] <= 1
    assert result.history[0]["val_loss"] < 9  # dice + 8 x recall term: at most 9
    model = zoo.get_model("luna_unet", weights=str(result.weights))
    test = zoo.get_dataset("luna_seg", split="test", root=str(seg_root), **SPLIT)
    again = zoo.evaluate(model, test, task="segmentation", progress=False)
    assert again["dice"] == pytest.approx(report["dice"]) and again["sample_dice"]["count"] == len(test)

    capsys.readouterr()
    code = main(["eval", "luna_unet", "--data", "luna_seg", "--root", str(seg_root), "-d", "test_fraction=0.25", "--split", "test",
                 "--weights", str(result.weights), "--plot", str(tmp_path / "plots")])
    out = capsys.readouterr()
    assert code == 0 and "nodule" in out.out and "per-sample dice" in out.out
    overlay = tmp_path / "plots" / "luna_unet-luna_seg-test-overlays.png"
    assert overlay.is_file() and overlay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "luna_unet-luna_seg-test-confusion.png").is_file()
