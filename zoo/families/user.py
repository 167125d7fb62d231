"""The user's own data, without a plugin: ``imagefolder`` (``zoo/datasets/imagefolder.py``) and ``text_csv``
(``zoo/datasets/text_csv.py``).

Their classes come from the data (folder names, label values), so they register ``num_classes=None``;
each dataset object carries its ``class_names``. Both declare a ``val`` split: the folder's own when it
has one, otherwise a stratified share held out from the train split by the dataset itself.

Registered as ``"module:function"`` strings: importing this module imports no torch, numpy or PIL.
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl

__all__ = ["register_datasets"]

_SPLITS = ("train", "val", "test")


@hookimpl
def register_datasets(register):
    register("imagefolder", "zoo.datasets.imagefolder:imagefolder", task="classification", num_classes=None,
             splits=_SPLITS, input="uint8 images as the model's preprocessing makes them, normalised",
             flips=True,  # --augment light/strong mirror your images
             description="your images: ROOT/{train,val,test}/<class>/<image> or ROOT/<class>/<image> (split seeded, "
                         "stratified); classes are the folder names")
    register("text_csv", "zoo.datasets.text_csv:text_csv", task="text-classification", num_classes=None,
             splits=_SPLITS, input="str (one text)",
             description="your texts: a .csv/.tsv/.jsonl file with text and label columns (split seeded, stratified), "
                         "or a folder with train/val/test files")
