"""``zoo predict``: label the user's own images, texts or scans (``zoo.predict.predict_inputs``)."""

from __future__ import annotations

import argparse
from typing import Any

from zoo.cli.options import (EXIT_OK, AtLeastOne, EXIT_USER_ERROR, add_backend, add_batch_size, add_device, add_json,
                             add_max_image_pixels, add_model_kwargs, add_weights, error, image_pixel_limit, print_json,
                             warn)


def add_commands(sub: Any) -> None:
    """``predict``; its inputs may come before or after the options (``zoo predict NAME --weights W A.png B.png``)."""
    p = sub.add_parser("predict", help="label your own images, texts or scans", description="Predict with a classifier: "
                       "image files and folders (PNG, JPEG, BMP) for vision models, texts for text models, .mhd scans for "
                       "the LUNA16 models. Labels come from the weights' class names; inputs are converted with the "
                       "weights' preprocessing. An input that cannot be read is named on stderr, the others are still "
                       "predicted, and the exit status is 2.")
    p.add_argument("name", help="registered model name (or arch.tag)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders, texts, or .mhd scans")
    add_weights(p, default="the model's default weights")
    p.add_argument("--file", metavar="F", help="read more inputs from F, one per line (UTF-8 text; - for standard input)")
    p.add_argument("--top-k", type=int, action=AtLeastOne, metavar="K", help="also list the K most probable labels")
    add_batch_size(p, default=None, help="inputs per forward pass (default 256 images, 6 of 224x224 RGB, 32 texts, 16 CT crops)")
    add_device(p)
    add_backend(p)
    add_json(p, help="print a JSON list, one object per input: input, label, probability (of that label), top_k when asked")
    add_model_kwargs(p)
    add_max_image_pixels(p)
    p.set_defaults(run=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """A table (or ``--json``) of labels; each unreadable input is one line on stderr, exit status 2."""
    from zoo.predict import format_records, predict_inputs

    with image_pixel_limit(args.max_image_pixels):
        records = predict_inputs(args.name, args.inputs, weights=args.weights, file=args.file, top_k=args.top_k,
                                 batch_size=args.batch_size, device=args.device, model_kwargs=dict(args.model_kwargs),
                                 backend=args.backend)
    for note in dict.fromkeys(f"{r['input']}: {r['note']}" for r in records if r.get("note")):
        warn(note)
    if args.json:
        print_json(records)  # strict JSON: a NaN probability (weights holding NaN) is null
    else:
        print(format_records(records))
    errors = [r["error"] for r in records if r.get("error")]
    for message in errors:
        error(message)  # one line each, though a file's name may hold a line break
    return EXIT_USER_ERROR if errors else EXIT_OK
