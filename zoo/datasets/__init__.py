"""Datasets, one file per data family (LUNA16 lives in ``zoo/luna/``). Shared helpers are in
``zoo.datasets.common``; registration is in ``zoo/families/``."""
