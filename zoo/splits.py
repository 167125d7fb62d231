"""One seeded split of items into ``train``, ``val`` and ``test``: every split hubzoo makes comes from here.

The trainer's held-out validation share (``--val-fraction``, seeded with ``--seed``), the user's own data
(``imagefolder``, ``text_csv``: ``-d val_fraction= test_fraction= split_seed=``), the LUNA16 split by scan
(the same options) and the digits' fixed test split all call :func:`split_indices`, so one rule, stated in
its docstring, decides where each item goes, and the same arguments always give the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from zoo.errors import DataError

__all__ = ["Split", "split_indices", "check_fractions"]


@dataclass(frozen=True)
class Split:
    """The parts of one split: sorted ``int64 [k]`` positions into the ``n`` items, disjoint, together ``range(n)``."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        """The positions of part ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        if name not in ("train", "val", "test"):
            raise DataError(f"a split has the parts train, val and test, not {name!r}")
        return getattr(self, name)


def check_fractions(*, val_fraction: float, test_fraction: float, what: str) -> None:
    """A :class:`DataError` naming ``what`` unless each fraction lies in [0, 1) and together they stay below 1."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise DataError(f"{what}: {name}={value!r} must lie in [0, 1) (0: no {name.split('_')[0]} split)")
    if val_fraction + test_fraction >= 1:
        raise DataError(f"{what}: val_fraction={val_fraction:g} + test_fraction={test_fraction:g} leaves nothing "
                        f"for training; their sum must be below 1")


def split_indices(
    n: int,
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
    labels: Sequence[Any] | np.ndarray | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
    what: str = "the data",
) -> Split:
    """Split ``range(n)`` into ``train``, ``val`` and ``test`` (:class:`Split`), seeded, stratified, grouped.

    The rule, exactly:

    1. *Units.* Each item is a unit; with ``groups`` (one hashable, sortable value per item) each distinct
       group value is one unit, in sorted order, and every item goes where its group goes, so no group is in
       two parts (LUNA16: no scan's samples are in two splits).
    2. *Classes.* With ``labels`` (one per item, equal within a group) the units are taken class by class,
       classes in sorted order (stratified); without, all units form one class.
    3. *Draws.* One generator, ``numpy.random.default_rng(seed)``, shuffles each class's ``k`` units in turn
       (``order = units[rng.permutation(k)]``). The first ``round(k * test_fraction)`` units of ``order`` go to
       ``test``, the next ``round(k * val_fraction)`` to ``val``, the rest to ``train`` (``round`` is
       Python's, halves to even). A positive fraction takes at least one unit of every class, 0 takes none.
       So each class's share of every part is within one unit of its fraction (one item per class when
       there are no groups), and the parts depend on nothing but these arguments.

    Bad input is one :class:`DataError` naming ``what``: a fraction outside [0, 1) or fractions summing to
    1 or more, no items, ``labels``/``groups`` of another length than ``n``, a group with two labels, and a
    class too small to give each positive fraction one unit and keep one for ``train``.
    """
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, what=what)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:  # numpy's generator takes none below 0
        raise DataError(f"{what}: the split seed {seed!r} is not valid: expected an integer of at least 0")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"{what}: nothing to split ({n!r} items)")
    unit_names, unit_of = np.arange(n), np.arange(n)  # unit of each item
    if groups is not None:
        unit_names, unit_of = np.unique(_per_item(groups, n, "groups", what), return_inverse=True)
    class_names, unit_class = _unit_classes(labels, n, unit_of, unit_names, what)
    rng = np.random.default_rng(seed)
    part_of_unit = np.zeros(len(unit_names), dtype=np.int64)  # 0 train, 1 val, 2 test
    for c, name in enumerate(class_names):
        members = np.flatnonzero(unit_class == c)
        k = len(members)
        order = members[rng.permutation(k)]
        n_test, n_val = _share(k, test_fraction), _share(k, val_fraction)
        if k - n_test - n_val < 1:
            units = f"{k} {'group(s)' if groups is not None else 'item(s)'}"
            whose = f"class {name!r} has {units}," if labels is not None else f"{units} are"
            raise DataError(f"{what}: {whose} too few for {n_test} test + {n_val} val and one left for train; "
                            f"add data{' of that class' if labels is not None else ''} or lower the fractions")
        part_of_unit[order[n_test : n_test + n_val]] = 1
        part_of_unit[order[:n_test]] = 2
    part = part_of_unit[unit_of]
    return Split(*(np.flatnonzero(part == i) for i in range(3)))


def _share(k: int, fraction: float) -> int:
    return max(1, round(k * fraction)) if fraction > 0 else 0


def _per_item(values: Any, n: int, name: str, what: str) -> np.ndarray:
    array = np.asarray(values.cpu() if hasattr(values, "cpu") else values)
    if array.ndim != 1 or len(array) != n:
        raise DataError(f"{what}: {name} must hold one value per item ({n}), got shape {tuple(array.shape)}")
    return array


def _unit_classes(labels: Any, n: int, unit_of: np.ndarray, unit_names: np.ndarray,
                  what: str) -> tuple[list[Any], np.ndarray]:
    """The sorted class values and each unit's class index ``int64 [units]`` (one class without labels)."""
    if labels is None:
        return [None], np.zeros(len(unit_names), dtype=np.int64)
    classes, item_class = np.unique(_per_item(labels, n, "labels", what), return_inverse=True)
    unit_class = np.zeros(len(unit_names), dtype=np.int64)
    unit_class[unit_of] = item_class
    mixed = np.flatnonzero(unit_class[unit_of] != item_class)
    if len(mixed):
        group = _plain(unit_names[unit_of[mixed[0]]])
        raise DataError(f"{what}: group {group!r} holds items of more than one label; a group needs one label "
                        f"to be stratified")
    return [_plain(c) for c in classes], unit_class


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (so that messages show ``'cat'``, not ``np.str_('cat')``)."""
    return value.item() if isinstance(value, np.generic) else value
