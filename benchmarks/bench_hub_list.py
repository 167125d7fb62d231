"""What listing the hub entries costs on top of `import torch`.

Fresh interpreters, alternating: one runs `import torch`; the other runs `import torch` and then
`torch.hub.list("owner/hubzoo:bench")` on a copy of this checkout in torch.hub's cache directory
(no network: trust_repo=True, skip_validation=True). Medians over --rounds.

    .venv/bin/python benchmarks/bench_hub_list.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMPORT_ONLY = "import torch"
LIST = (
    "import time, torch; t = time.perf_counter(); "
    "names = torch.hub.list('owner/hubzoo:bench', trust_repo=True, skip_validation=True, verbose=False); "
    "print(time.perf_counter() - t); assert 'mnist_cnn' in names"
)


def timed(code: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as torch_home:
        checkout = Path(torch_home) / "hub" / "owner_hubzoo_bench"
        checkout.mkdir(parents=True)
        shutil.copy(REPO / "hubconf.py", checkout)
        for folder in ("zoo", "weights"):
            shutil.copytree(REPO / folder, checkout / folder, ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "TORCH_HOME": torch_home}
        timed(LIST, env)  # warm the file cache and write the .pyc files once
        base, listing, call = [], [], []
        for i in range(args.rounds):
            base.append(timed(IMPORT_ONLY, env)[0])
            seconds, out = timed(LIST, env)
            listing.append(seconds)
            call.append(float(out))
            print(f"round {i + 1}: import torch {base[-1]:.2f}s | import torch + hub.list {listing[-1]:.2f}s "
                  f"(the hub.list call alone {call[-1]:.3f}s)", flush=True)
    b, l, c = statistics.median(base), statistics.median(listing), statistics.median(call)
    print(f"\n| process | median s |\n|---|---:|\n| `import torch` | {b:.2f} |\n| `import torch` + `torch.hub.list` | {l:.2f} |"
          f"\n| the `torch.hub.list` call alone (timed inside the process) | {c:.3f} |")
    print(f"\nthe hub.list call costs {100 * c / b:.1f}% of import torch; whole processes differ by {100 * (l - b) / b:+.1f}% (goal: < 10%)")


if __name__ == "__main__":
    main()
