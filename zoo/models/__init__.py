"""Models, one file per family (LUNA16 lives in ``zoo/luna/``); registration is in ``zoo/families/``.
Builders are keyword-only and return an ``nn.Module`` without weights; ``zoo.api.get_model`` and the
hub entries load weights on top.

Plugin authors import the shared helpers from here (``from zoo.models import check_input_shape``);
they are defined in ``zoo/models/common.py``.
"""

from zoo.models.common import check_input_shape, init_cnn_weights

__all__ = ["check_input_shape", "init_cnn_weights"]
