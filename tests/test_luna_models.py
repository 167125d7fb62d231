"""The LUNA16 classifiers: shapes, the book's architecture and initialisation, fine-tuning from a nodule
classifier, registration, and one short run of the shared trainer on synthetic scans.

The training goals (recall >= 0.9 and precision >= 0.5 on held-out scans) take minutes on a CPU and
are measured by ``benchmarks/luna_training.py``, not here."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import DataError, WeightsError
from zoo.models.luna import LunaModel, luna_classifier, luna_malignancy


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


def test_registered_with_metadata():
    from zoo.plugins import get_registry

    for name in ("luna_classifier", "luna_malignancy"):
        spec = get_registry().model(name)
        assert spec.task == "classification" and spec.meta["input_shape"] == (1, 32, 48, 48)
        assert {"input", "output", "recipe"} <= set(spec.meta) and "[N, 2]" in spec.meta["output"]
        assert isinstance(zoo.get_model(name), LunaModel)


def test_luna_model_module_imports_only_torch():
    import subprocess
    import sys

    code = "import sys, zoo.models.luna; print(any(m in sys.modules for m in ('SimpleITK', 'scipy', 'safetensors')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_trainer_runs_on_synthetic_luna(tmp_path):
    pytest.importorskip("SimpleITK")
    from zoo.datasets.luna import synthesize
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


def test_weights_do_not_need_the_file_the_malignancy_model_was_initialised_from(tmp_path):
    """init_from names a file on the trainer's machine; loading the trained weights must not read it."""
    import json

    from zoo.weights import save_state_dict

    classifier_file = tmp_path / "classifier.safetensors"
    save_state_dict(zoo.get_model("luna_classifier"), classifier_file)
    kwargs = {"init_from": str(classifier_file), "finetune": "block4"}
    model = zoo.get_model("luna_malignancy", **kwargs)
    trained = tmp_path / "malignancy.safetensors"
    save_state_dict(model, trained, metadata={"arch": "luna_malignancy", "model_kwargs": json.dumps(kwargs)})
    classifier_file.unlink()
    loaded = zoo.get_model("luna_malignancy", weights=str(trained))
    assert torch.equal(loaded.head.weight, model.head.weight)
