"""What a `zoo` command costs as a whole process, against `python -c "import torch"` alone.

Fresh interpreters, alternating in the same run: `import torch`, `zoo list`, `zoo datasets`, `zoo --help`
(the `zoo` script of this environment). Built-in families register "module:function" strings from
light modules, so listing should not pay for torch. Medians over --rounds; the ratio is each command's
median over the `import torch` median.

    .venv/bin/python benchmarks/bench_cli_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZOO = str(Path(sys.executable).with_name("zoo"))
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "zoo list": [ZOO, "list"],
    "zoo datasets": [ZOO, "datasets"],
    "zoo --help": [ZOO, "--help"],
}


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ZOO_HOME": home}
        for argv in COMMANDS.values():  # warm the file cache and the .pyc files once
            timed(argv, env)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.rounds):
            for name, argv in COMMANDS.items():
                times[name].append(timed(argv, env))
    base = statistics.median(times["python -c 'import torch'"])
    print(f"| command | median s ({args.rounds} rounds) | ratio to import torch |\n|---|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
