"""ONNX Runtime against eager PyTorch on the CPU, in the same process, for the models `zoo export` serves.

For each model (random initialisation: the speed does not depend on the values) the ONNX file is made
by `zoo.export.export_model` (parity checked), then eager PyTorch (`torch.inference_mode`) and an ONNX
Runtime CPU session run the same input alternately, `--repeats` times per batch size, both with the same
number of threads (ORT's spin-waiting off, so that it leaves the cores to the eager call that follows). Medians in milliseconds per batch; ratio = eager / ONNX Runtime (above 1: ORT is faster).

    .venv/bin/python benchmarks/bench_onnx.py [--repeats 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

MODELS = ("mnist_cnn", "dsconv_net", "vgg16_cifar", "luna_classifier")
BATCHES = (1, 64)


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from zoo.api import get_model
    from zoo.export import export_model
    from zoo.plugins import get_registry

    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    # ORT's threads spin-wait after each run by default; alternating with PyTorch, that spinning would steal
    # the cores from the eager call that follows. Off, each side gets the machine to itself.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    print(f"| model | batch | eager ms | ONNX Runtime ms | eager / ORT |\n|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            path = export_model(name, format="onnx", out=Path(folder) / f"{name}.onnx").path
            torch.manual_seed(0)
            model = get_model(name).eval()
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            input_name = session.get_inputs()[0].name
            shape = get_registry().model(name).input_shape
            for batch in BATCHES:
                x = torch.randn(batch, *shape)
                feed = {input_name: x.numpy()}

                def eager():
                    with torch.inference_mode():
                        model(x)

                eager_ms, ort_ms = [], []
                for _ in range(args.repeats):  # alternate, so that load on the machine hits both alike
                    eager_ms += timed(eager, 1)
                    ort_ms += timed(lambda: session.run(None, feed), 1)
                e, o = statistics.median(eager_ms), statistics.median(ort_ms)
                print(f"| {name} | {batch} | {e:.2f} | {o:.2f} | {e / o:.2f}x |")


if __name__ == "__main__":
    main()
