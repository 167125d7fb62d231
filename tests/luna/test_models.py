"""The LUNA16 models: the classifiers (shapes, the book's architecture and initialisation, fine-tuning from a
nodule classifier), the U-Net and its loss, and one short run of the shared trainer on synthetic scans.

The training goals (recall >= 0.9 and precision >= 0.5 on held-out scans) take minutes on a CPU and
are measured by ``benchmarks/luna_training.py``, not here."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import DataError, WeightsError, ZooError
from zoo.luna.models import LunaModel, LunaUNet, SegmentationLoss, luna_classifier, luna_malignancy, luna_unet
from zoo.state_dicts import save_state_dict

# ------------------------------------------------------------------------------------------ classifiers


def test_shapes_and_architecture():
    model = luna_classifier()
    assert model(torch.randn(2, 1, 32, 48, 48)).shape == (2, 2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3, 3) and c.padding == (1, 1, 1) for c in convs)
    assert isinstance(model.input_norm, nn.BatchNorm3d) and model.head.in_features == 1152
    assert sum(p.numel() for p in model.parameters()) == 222_220
    model.eval()
    assert model.features(torch.zeros(1, 1, 32, 48, 48)).shape == (1, 1152)
    with pytest.raises(DataError, match=r"\[N, 1, 32, 48, 48\]"):
        model(torch.randn(2, 1, 32, 32, 32))


def test_book_initialisation():
    torch.manual_seed(0)
    model = luna_classifier()
    conv = model.block2.conv2  # 16 -> 16 channels: fan_out = 16 * 27
    fan_out = 16 * 27
    assert abs(float(conv.weight.detach().std()) - math.sqrt(2 / fan_out)) < 0.1 * math.sqrt(2 / fan_out)
    for m in model.modules():
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            bound = 1 / math.sqrt(m.weight.shape[0] * m.weight[0, 0].numel())
            assert m.bias.abs().max() <= bound


def test_malignancy_starts_from_the_nodule_classifier(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    nodule = luna_classifier()
    torch.manual_seed(1)
    fresh = luna_malignancy()
    for source in (nodule, nodule.state_dict()):
        torch.manual_seed(1)
        model = luna_malignancy(init_from=source, finetune="head")
        assert torch.equal(model.block1.conv1.weight, nodule.block1.conv1.weight)
        assert torch.equal(model.input_norm.running_mean, nodule.input_norm.running_mean)
        assert torch.equal(model.head.weight, fresh.head.weight)  # the head starts afresh
    path = tmp_path / "nodule.safetensors"
    save_file({k: v.contiguous() for k, v in nodule.state_dict().items()}, str(path))
    model = luna_malignancy(init_from=str(path), finetune="block4")
    assert torch.equal(model.block4.conv2.weight, nodule.block4.conv2.weight)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"block4", "head"}
    model.train()
    assert not model.input_norm.training and not model.block1.training and model.block4.training
    model(torch.randn(2, 1, 32, 48, 48) * 300).sum().backward()
    assert model.block1.conv1.weight.grad is None and model.block4.conv1.weight.grad is not None
    assert all(p.requires_grad for p in luna_malignancy().parameters())  # finetune="all" by default
    with pytest.raises(WeightsError, match="does not exist"):
        luna_malignancy(init_from=str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsError, match="conv_channels=16"):
        luna_malignancy(init_from=nodule, conv_channels=16)
    with pytest.raises(ValueError, match="finetune"):
        luna_malignancy(finetune="block2")


def test_luna_model_module_imports_only_torch():
    code = "import sys, zoo.luna.models; print(any(m in sys.modules for m in ('SimpleITK', 'scipy', 'safetensors')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_weights_do_not_need_the_file_the_malignancy_model_was_initialised_from(tmp_path):
    """init_from names a file on the trainer's machine; loading the trained weights must not read it."""
    classifier_file = tmp_path / "classifier.safetensors"
    save_state_dict(zoo.get_model("luna_classifier"), classifier_file)
    kwargs = {"init_from": str(classifier_file), "finetune": "block4"}
    model = zoo.get_model("luna_malignancy", **kwargs)
    trained = tmp_path / "malignancy.safetensors"
    save_state_dict(model, trained, metadata={"arch": "luna_malignancy", "model_kwargs": json.dumps(kwargs)})
    classifier_file.unlink()
    loaded = zoo.get_model("luna_malignancy", weights=str(trained))
    assert torch.equal(loaded.head.weight, model.head.weight)


@pytest.mark.slow
def test_trainer_runs_on_synthetic_luna(tmp_path):
    pytest.importorskip("SimpleITK")
    from zoo.luna.synthetic import synthesize
    from zoo.train import TrainConfig, train

    root = synthesize(tmp_path / "luna", 4, seed=2, shape=(40, 96, 96))
    config = TrainConfig("luna_classifier", "luna", root=str(root), epochs=1, batch_size=16, out=str(tmp_path / "run"),
                         progress=False, data_kwargs={"balance_ratio": 1, "epoch_size": 48, "test_fraction": 0.25})
    result = train(config)
    report = result.test_report
    assert 0 <= report["accuracy"] <= 1 and report["positive"]["class"] == 1 and "recall" in report["positive"]
    assert result.weights.is_file()
    # Validation uses the dataset's val split (other scans), not candidates of the training scans.
    val_scans = zoo.get_dataset("luna", split="val", root=str(root), test_fraction=0.25).series_uids
    assert not set(val_scans) & set(zoo.get_dataset("luna", split="train", root=str(root), test_fraction=0.25).series_uids)
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["validation"].startswith("the luna val split")


# ------------------------------------------------------------------------------------------ segmentation


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


def test_unet_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "classifier.safetensors"
    save_state_dict(luna_classifier(), path, metadata={"arch": "luna_classifier", "model_kwargs": "{}"})
    with pytest.raises(WeightsError, match="saved for model 'luna_classifier', not 'luna_unet'"):
        zoo.get_model("luna_unet", weights=str(path))


def test_unet_is_built_by_the_registry():
    from zoo.models.complexity import count_macs

    assert isinstance(zoo.get_model("luna_unet"), LunaUNet) and count_macs(zoo.get_model("luna_unet"), (7, 64, 64)) > 10**8
    assert all(isinstance(zoo.get_model(name), LunaModel) for name in ("luna_classifier", "luna_malignancy"))


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


def test_shipped_weights_load_strictly():
    """The shipped ``synthetic`` weights keep their parameter names: their state dicts fit the models exactly."""
    from safetensors.torch import load_file

    from zoo.weights import read_manifest, shipped_manifest_path

    manifest = read_manifest(shipped_manifest_path())
    for name in ("luna_classifier", "luna_malignancy", "luna_unet"):
        saved = load_file(str(manifest[f"{name}.synthetic"].path))
        model = zoo.get_model(name, weights="synthetic")
        assert set(saved) == set(model.state_dict())
        model.load_state_dict(saved, strict=True)
