"""Building a registered model (zoo/builder.py): builder failures are one clear error."""

from __future__ import annotations

import pytest
from torch import nn

from zoo import hookimpl
from zoo.builder import build_model
from zoo.errors import ZooError
from zoo.plugins import build_registry


def test_a_factory_that_fails_is_one_clear_error_and_the_rest_keeps_working():
    def broken_builder():
        raise RuntimeError("weights folder vanished")

    class FailingFactory:
        __name__ = "failing-factory"

        @hookimpl
        def register_models(self, register):
            register("fragile_net", broken_builder, task="classification")

    registry = build_registry(extra_plugins=[FailingFactory()], use_entry_points=False)
    with pytest.raises(ZooError, match="'fragile_net' \\(registered by 'failing-factory'\\) failed to build: RuntimeError"):
        build_model(registry.model("fragile_net"))
    with pytest.raises(ZooError, match="'mnist_cnn' has no argument 'colour'; it accepts: n_feature=6, num_classes=10, in_channels=1"):
        build_model(registry.model("mnist_cnn"), colour=1)
    with pytest.raises(ZooError, match="'mnist_cnn': n_feature='wide' is a str, expected int"):
        build_model(registry.model("mnist_cnn"), n_feature="wide")
    assert isinstance(build_model(registry.model("mnist_cnn")), nn.Module)
