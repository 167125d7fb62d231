"""LUNA16 registration: a light module (no torch, numpy or SimpleITK), ``"module:function"`` factories that
resolve into ``zoo.luna``, and the registered metadata."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import zoo
from zoo.luna import family
from zoo.plugins import get_registry


def test_importing_the_family_imports_no_torch_or_numpy():
    code = "import sys, zoo.luna.family; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
    code = "import sys, zoo.luna.commands; print(sorted(m for m in ('torch', 'numpy', 'SimpleITK', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_factories_are_strings_that_resolve_into_zoo_luna():
    registered = []
    family.register_models(register=lambda name, factory, **options: registered.append((name, factory)))
    family.register_datasets(register=lambda name, factory, **options: registered.append((name, factory)))
    assert [n for n, _ in registered] == ["luna_classifier", "luna_malignancy", "luna_unet", "luna", "luna_malignancy", "luna_seg"]
    for name, factory in registered:
        module, _, attr = factory.partition(":")
        assert module.startswith("zoo.luna.") and callable(getattr(importlib.import_module(module), attr)), (name, factory)


def test_models_registered_with_metadata():
    for name in ("luna_classifier", "luna_malignancy"):
        spec = get_registry().model(name)
        assert spec.task == "classification" and spec.input_shape == (1, 32, 48, 48)
        assert spec.input and spec.recipe and "[N, 2]" in spec.output and spec.output_shape == (2,)
        assert spec.source == "zoo.luna.family" and spec.predict_inputs == "zoo.luna.analysis:predict_scans"
    spec = get_registry().model("luna_unet")
    assert spec.task == "segmentation" and spec.input_shape == (7, 64, 64) and spec.dynamic_dims == {2: "height", 3: "width"}
    assert spec.output_shape == (1, 64, 64)
    assert spec.class_names == ("background", "nodule") and spec.recipe.startswith("zoo train luna_unet --data luna_seg")
    assert "[N, 1, H, W]" in spec.output and "[N, 7, H, W]" in spec.input


def test_datasets_registered_and_loadable(luna_root):
    for name, names in (("luna", ("non-nodule", "nodule")), ("luna_malignancy", ("benign", "malignant"))):
        spec = get_registry().dataset(name)
        assert (spec.task, spec.num_classes, spec.class_names, spec.extra) == ("classification", 2, names, "luna")
        assert spec.splits == ("train", "val", "test", "all")
    data = get_registry().dataset("luna_seg")
    assert data.task == "segmentation" and data.num_classes == 2 and "derived" in data.description
    assert data.source == "zoo.luna.family" and data.extra == "luna"
    pytest.importorskip("SimpleITK")
    data = zoo.get_dataset("luna_malignancy", split="all", root=str(luna_root))
    assert data.class_names == ("benign", "malignant") and set(data.labels.tolist()) == {0, 1}
    assert data.synthetic and "SYNTHETIC" in data.description
