"""Datasets, one file per data family (LUNA16 lives in ``zoo/luna/``); registration is in ``zoo/families/``.

Plugin authors import the shared helpers from here (``from zoo.datasets import ImageTensorDataset``);
they are defined in ``zoo/datasets/common.py`` and ``zoo/files.py``.
"""

from zoo.datasets.common import ImageTensorDataset, check_split
from zoo.files import data_root as default_data_root

__all__ = ["ImageTensorDataset", "check_split", "default_data_root"]
