"""Small data sets of the user's own kind, written by the tests: image folders (PNG/JPEG) and CSV/JSONL text
files (tests/datasets/test_imagefolder.py, tests/datasets/test_text_csv.py, tests/families/test_user_data.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from PIL import Image


def write_image(path: Path, *, size=(10, 12), mode="RGB", value=128, fmt=None) -> Path:
    """An image of ``size`` (H, W) whose pixels are ``value`` plus a small gradient (so resizing matters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    pixels = (torch.arange(h * w).view(h, w) % 7 + value).clamp(0, 255).to(torch.uint8)
    image = Image.fromarray(pixels.numpy(), mode="L")
    image.convert(mode).save(path, format=fmt)
    return path


def image_folder(root: Path, counts: dict[str, int], *, size=(10, 12), mode="RGB", suffix=".png") -> Path:
    """``root/<class>/<i><suffix>``; class ``k`` (in the dict's order) is darker than class ``k + 1``."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / name / f"{i:03d}{suffix}", size=size, mode=mode, value=40 + 150 * k + i % 5)
    return root


def write_csv(path: Path, rows: list[tuple[str, object]], header=("text", "label"), delimiter=",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def spam_rows(n: int) -> list[tuple[str, str]]:
    return [(f"win money now, offer {i}, click here", "spam") if i % 3 == 0 else (f"see you at lunch, item {i}", "ham")
            for i in range(n)]

