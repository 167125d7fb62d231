"""``zoo demo`` (``make demo``): the whole path, offline, in about half a minute on two CPU cores.

1. train ``mnist_cnn`` (``n_feature=32``) on ``digits``, scikit-learn's bundled handwritten digits;
2. evaluate it on the 297 held-out digits with the shared evaluator;
3. pin the weights as safetensors with a manifest entry pinning their sha256;
4. load them back through ``torch.hub.load(<checkout>, "mnist_cnn", source="local", weights=...)``;
5. predict a few held-out digits and print the report and where the plots are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The demo's quality bar on the held-out digits.
MIN_ACCURACY = 0.97


def run_demo(*, out: str = "runs/demo", epochs: int = 30, min_accuracy: float = MIN_ACCURACY) -> int:
    """Run the five steps into ``out``; exit status 1 when the held-out accuracy is below ``min_accuracy``."""
    import torch

    from zoo.api import get_dataset, get_model
    from zoo.errors import ZooError
    from zoo.files import sha256_file
    from zoo.reports import format_report
    from zoo.pin import pin_run
    from zoo.plots import plot_confusion_matrix
    from zoo.train import TrainConfig, train
    from zoo.weights import MANIFEST_NAME

    out_dir = Path(out)
    if out_dir.exists():
        if not (out_dir / "config.json").exists():
            raise ZooError(f"{out_dir} exists and is not a demo run folder; pass another --out")
        shutil.rmtree(out_dir)

    print("1/5 training mnist_cnn (n_feature=32) on digits: scikit-learn's 8x8 handwritten digits upscaled to 28x28")
    config = TrainConfig("mnist_cnn", "digits", epochs=epochs, patience=8, model_kwargs={"n_feature": 32}, out=str(out_dir))
    result = train(config)

    print("\n2/5 held-out evaluation (359 digits never seen in training):")
    print(format_report(result.test_report))
    confusion_png = plot_confusion_matrix(result.test_report, out_dir / "confusion.png")

    print("\n3/5 pinning the weights in a manifest entry")
    spec = pin_run(out_dir, tag="digits", manifest=out_dir / "weights" / MANIFEST_NAME, default=True)
    print(f"    {spec.path}  sha256={spec.sha256}")

    print("\n4/5 loading them back through torch.hub")
    checkout = Path(__file__).resolve().parent.parent
    if sha256_file(spec.path) != spec.sha256:
        raise ZooError(f"{spec.path} changed after export")
    if (checkout / "hubconf.py").exists():
        model = torch.hub.load(str(checkout), "mnist_cnn", source="local", weights=str(spec.path))
        print(f'    torch.hub.load("{checkout}", "mnist_cnn", source="local", weights="{spec.path}")')
    else:  # installed from a wheel: no checkout, same loader underneath
        model = get_model("mnist_cnn", weights=str(spec.path))
        print(f'    zoo.get_model("mnist_cnn", weights="{spec.path}")')
    model.eval()

    print("\n5/5 predictions on held-out digits:")
    test_set = get_dataset("digits", split="test")
    picks = torch.linspace(0, len(test_set) - 1, 8).long()
    images, labels = test_set.batch(picks)
    with torch.inference_mode():
        probs = model(images).softmax(1)
    for i, (p, y) in enumerate(zip(probs, labels)):
        guess = int(p.argmax())
        mark = "ok" if guess == int(y) else "WRONG"
        print(f"    digit #{int(picks[i]):>3}: true {int(y)}  predicted {guess}  (p={float(p[guess]):.3f})  {mark}")

    accuracy = result.test_report["accuracy"]
    print(f"\nheld-out accuracy {accuracy:.4f} (goal >= {min_accuracy}); best epoch {result.best_epoch} of {len(result.history)}")
    print(f"plots: {out_dir / 'curves.png'} (loss/accuracy), {confusion_png} (confusion matrix)")
    if accuracy < min_accuracy:
        print(f"demo FAILED: accuracy {accuracy:.4f} is below {min_accuracy}")
        return 1
    return 0
