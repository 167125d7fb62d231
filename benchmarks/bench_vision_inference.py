"""CPU inference throughput (images/s) of the vision models on 32x32 input, beside torchvision's
``vgg16_bn(num_classes=10)`` on the same input in the same run, at batch 1 and batch 64.

Modes, each measured on the same random batch:

* ``eager``: ``model.eval()`` under ``torch.no_grad()``, contiguous tensors (how the course ran models);
* ``inference_mode + channels-last``: ``torch.inference_mode()``, model and input in channels-last;
* ``+ conv-BN folded``: the same with every Conv2d -> BatchNorm2d pair folded into one conv
  (``torch.nn.utils.fusion.fuse_conv_bn_eval``; eval only);
* ``torch.compile``: inductor with ``freezing=True`` (folds BN, pre-packs weights) on the channels-last
  model under ``inference_mode``; one compiled model per batch size, warm-up time reported separately.

Timed calls go round-robin over every (model, mode) of a batch size, so load from other processes hits
all of them alike; each cell is the median over ``--repeats`` rounds.

    .venv/bin/python benchmarks/bench_vision_inference.py [--repeats 7] [--batch-sizes 1 64] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from typing import Callable

import torch
from torch import nn

MODES = ("eager", "inference_mode + channels-last", "+ conv-BN folded", "torch.compile")


def fold_conv_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with each Conv2d directly followed by a BatchNorm2d in an
    ``nn.Sequential`` replaced by one equivalent Conv2d (and the BN by an identity)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            if isinstance(seq._modules[a], nn.Conv2d) and isinstance(seq._modules[b], nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(seq._modules[a], seq._modules[b])
                seq._modules[b] = nn.Identity()
    return model


def build_models(names: list[str]) -> dict[str, nn.Module]:
    import torchvision

    import zoo

    models = {name: zoo.get_model(name).eval() for name in names}
    models["torchvision vgg16_bn(num_classes=10)"] = torchvision.models.vgg16_bn(num_classes=10).eval()
    return models


def make_runners(model: nn.Module, batch: int, compile_: bool, warmups: dict) -> dict[str, Callable[[], None]]:
    """One zero-argument callable per mode, each already warmed up."""
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    folded = fold_conv_bn(model).to(memory_format=torch.channels_last)

    def run(m: nn.Module, inp: torch.Tensor, context: Callable) -> Callable[[], None]:
        def call() -> None:
            with context():
                m(inp)
        return call

    runners = {
        MODES[0]: run(model, x, torch.no_grad),
        MODES[1]: run(cl, x_cl, torch.inference_mode),
        MODES[2]: run(folded, x_cl, torch.inference_mode),
    }
    if compile_:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(copy.deepcopy(cl), dynamic=False)
        start = time.perf_counter()
        try:
            run(compiled, x_cl, torch.inference_mode)()
            warmups[batch] = time.perf_counter() - start
            runners[MODES[3]] = run(compiled, x_cl, torch.inference_mode)
        except Exception as exc:  # no C++ compiler, an inductor bug: report it, keep the other modes
            warmups[batch] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}"
    for call in runners.values():
        call()
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per cell (median reported; default 7)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64], help="default: 1 64")
    parser.add_argument("--models", nargs="+", default=["vgg16_cifar", "dsconv_net", "cifar_net"], help="hubzoo models")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its warm-up takes minutes on 2 cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = build_models(args.models)
    results: dict[tuple[str, int, str], float] = {}
    warmups: dict[str, dict] = {name: {} for name in models}
    for batch in args.batch_sizes:
        runners = {name: make_runners(model, batch, not args.no_compile, warmups[name]) for name, model in models.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for name, modes in runners.items():
                for mode, call in modes.items():
                    start = time.perf_counter()
                    call()
                    times.setdefault((name, mode), []).append(time.perf_counter() - start)
        for (name, mode), ts in times.items():
            results[name, batch, mode] = batch / statistics.median(ts)
        print(f"batch {batch} done", flush=True)

    from zoo.models.complexity import count_macs, count_params

    load = os.getloadavg()
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, input [B, 3, 32, 32], medians of {args.repeats} rounds, images/s\n")
    shown = [m for m in MODES if any(k[2] == m for k in results)]
    print("| model | params | MACs/image | batch | " + " | ".join(shown) + " | best / eager |")
    print("|---|---:|---:|---:|" + "---:|" * (len(shown) + 1))
    for name, model in models.items():
        params, macs = count_params(model), count_macs(model, (3, 32, 32))
        for batch in args.batch_sizes:
            row = [results.get((name, batch, m)) for m in shown]
            best = max(v for v in row if v is not None)
            cells = " | ".join(f"{v:,.1f}" if v is not None else "-" for v in row)
            print(f"| {name} | {params / 1e6:.2f}M | {macs / 1e6:.1f}M | {batch} | {cells} | {best / row[0]:.2f}x |")
    if not args.no_compile:
        print("\ntorch.compile warm-up (first call, s): " + "; ".join(
            f"{name}: " + ", ".join(f"batch {b} {w:.0f}" if isinstance(w, float) else f"batch {b} {w}" for b, w in ws.items())
            for name, ws in warmups.items()))
    tv = "torchvision vgg16_bn(num_classes=10)"
    if "vgg16_cifar" in models:
        print()
        for batch in args.batch_sizes:
            ours_eager, tv_eager = results["vgg16_cifar", batch, MODES[0]], results[tv, batch, MODES[0]]
            ours_best = max(v for (n, b, _), v in results.items() if n == "vgg16_cifar" and b == batch)
            tv_best = max(v for (n, b, _), v in results.items() if n == tv and b == batch)
            print(f"batch {batch}: vgg16_cifar / torchvision vgg16_bn = {ours_eager / tv_eager:.2f}x eager, "
                  f"{ours_best / tv_best:.2f}x best vs best")


if __name__ == "__main__":
    main()
