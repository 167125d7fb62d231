"""Sliding-window inference over a CT-sized volume: ``zoo.inference.sliding_window_inference`` against
``monai.inferers.sliding_window_inference`` on the same network, volume, patch, overlap and blending.

The network is a small fully convolutional 3-D U-Net-like net defined here (two 3x3x3 convolutions of
8 channels, a max-pooled 16-channel branch upsampled back and concatenated, a 3x3x3 and a 1x1x1
convolution to 2 output channels): a sliding window needs a model whose output has its input's
spatial size. Both runners get the same random volume; calls alternate between the two (ours first in
odd rounds, MONAI first in even ones), both under ``torch.inference_mode()``, one warm-up call each,
and each cell is the median of ``--repeats`` calls. Both wall-clock time and this process's CPU time
(user + system) are reported: on a shared machine the wall time also counts the time the process
waited for a core, which the CPU time leaves out. A second network, one 1x1x1 convolution, costs next to nothing, so its rows measure what
the two runners themselves cost (cutting and moving windows, weighting, accumulating). The maximum
absolute difference between the two outputs is checked (< 1e-5) and printed.

    .venv/bin/python benchmarks/bench_sliding_window.py --threads 1 [--repeats 5] [--shape 64 160 160] [--patch 32 96 96]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import nn


class SmallUNet3d(nn.Module):
    """``[B, 1, D, H, W]`` -> ``[B, 2, D, H, W]`` (D, H, W even): one down/up level, 8 and 16 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 8, 3, padding=1), nn.ReLU())
        self.down = nn.Sequential(nn.MaxPool3d(2), nn.Conv3d(8, 16, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2))
        self.decode = nn.Sequential(nn.Conv3d(24, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encode(x)
        return self.decode(torch.cat([features, self.down(features)], dim=1))


def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, float, torch.Tensor]:
    """Wall-clock seconds, this process's CPU seconds (user + system, all threads) and ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per runner and blending (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 160, 160), metavar=("D", "H", "W"), help="volume size, voxels")
    parser.add_argument("--patch", type=int, nargs=3, default=(32, 96, 96), metavar=("D", "H", "W"), help="window size, voxels")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=4, help="windows per model call")
    parser.add_argument("--overhead-repeats", type=int, default=21, help="timed calls with the 1x1x1 conv (cheap)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    from monai.inferers import sliding_window_inference as monai_sliding_window

    from zoo.inference import sliding_window_inference

    torch.manual_seed(0)
    volume = torch.randn(1, 1, *args.shape)
    patch = tuple(args.patch)
    networks = [("small U-Net", SmallUNet3d().eval(), args.repeats),
                ("1x1x1 conv (the runners' own cost)", nn.Conv3d(1, 2, 1).eval(), args.overhead_repeats)]
    print(f"volume {list(volume.shape)}, patch {list(patch)}, overlap {args.overlap}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} thread(s)\n")
    print("| network | blending | repeats | zoo wall s | MONAI wall s | MONAI / zoo wall | zoo CPU s | MONAI CPU s "
          "| MONAI / zoo CPU | max abs difference |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, net, repeats in networks:
        for blending in ("constant", "gaussian"):
            def ours() -> torch.Tensor:
                return sliding_window_inference(volume, net, patch_size=patch, overlap=args.overlap, blending=blending,
                                                batch_size=args.batch_size)

            def theirs() -> torch.Tensor:
                with torch.inference_mode():
                    return monai_sliding_window(volume, patch, args.batch_size, net, overlap=args.overlap, mode=blending,
                                                sigma_scale=0.125, padding_mode="constant", cval=0)

            *_, a = timed(ours)  # warm-up, and the outputs to compare
            *_, b = timed(theirs)
            difference = float((a - b).abs().max())
            assert difference < 1e-5, f"outputs differ by {difference}"
            wall: dict[str, list[float]] = {"zoo": [], "monai": []}
            cpu: dict[str, list[float]] = {"zoo": [], "monai": []}
            for round_ in range(repeats):
                order = [("zoo", ours), ("monai", theirs)]
                for name, fn in order if round_ % 2 == 0 else order[::-1]:
                    wall_s, cpu_s, _ = timed(fn)
                    wall[name].append(wall_s)
                    cpu[name].append(cpu_s)
            cells = []
            for times in (wall, cpu):
                zoo_s, monai_s = statistics.median(times["zoo"]), statistics.median(times["monai"])
                digits = 2 if zoo_s > 1 else 4
                cells += [f"{zoo_s:.{digits}f}", f"{monai_s:.{digits}f}", f"{monai_s / zoo_s:.3f}x"]
            print(f"| {label} | {blending} | {repeats} | {' | '.join(cells)} | {difference:.1e} |")

if __name__ == "__main__":
    main()
