"""Training throughput (samples/s) of ``vgg16_cifar``: hubzoo's batched tensor augmentation against the
course's recipe, on the same synthetic CIFAR-format folder, same model, same optimizer, same steps.

* course recipe: torchvision's ``CIFAR10`` reader with ``RandomCrop(32, padding=4)``,
  ``RandomHorizontalFlip()``, ``ToTensor()``, ``Normalize(CIFAR-10 mean/std)`` per PIL image, through a
  ``DataLoader(batch_size=128, shuffle=True, num_workers=2)``; fp32, contiguous tensors;
* hubzoo, fp32: ``zoo.get_dataset("cifar10")`` (one uint8 tensor) and ``dataset.batch(indices, augment=True)``
  (:func:`zoo.datasets.cifar.random_crop_flip` on the whole batch, in the main process), same fp32 model:
  isolates the data path;
* hubzoo, fastest: the same plus channels-last and bfloat16 autocast (``zoo train --channels-last --amp``).

All use SGD (lr 0.1, momentum 0.9, weight decay 5e-4), batch 128, and time ``--steps`` steps after
``--warmup`` steps (so the DataLoader's worker start-up is not counted against the course). Rounds
alternate the recipes; the table shows medians. The synthetic folder is random uint8 images written in
the release's pickle format; the md5 check of torchvision's reader is switched off the documented way
(file lists with ``md5=None``), since only the official files can match it.

    .venv/bin/python benchmarks/bench_vgg_training.py [--steps 20] [--warmup 3] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

BATCH = 128


def make_model_and_optimizer(channels_last: bool):
    import zoo

    torch.manual_seed(0)
    model = zoo.get_model("vgg16_cifar").train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def train_step(model, optimizer, x, y, amp: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def course_recipe(root: Path, steps: int, warmup: int) -> float:
    """The course's CIFAR-10 VGG pipeline; returns samples/s over ``steps`` steps after ``warmup``."""
    import torchvision.transforms as transforms
    from torchvision.datasets import CIFAR10

    class CIFAR10Unverified(CIFAR10):  # check_integrity(path, md5=None) only checks that the file exists
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    transform_train = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))])
    trainset = CIFAR10Unverified(root=str(root), train=True, download=False, transform=transform_train)
    loader = torch.utils.data.DataLoader(trainset, batch_size=BATCH, shuffle=True, num_workers=2)
    model, optimizer = make_model_and_optimizer(channels_last=False)
    start = None
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            start = time.perf_counter()
        if i == warmup + steps:
            break
        train_step(model, optimizer, x, y, amp=False)
    return steps * BATCH / (time.perf_counter() - start)


def hubzoo_recipe(root: Path, steps: int, warmup: int, *, fast: bool) -> float:
    """hubzoo's batched path; ``fast``: channels-last + bfloat16 autocast. Returns samples/s."""
    import zoo

    dataset = zoo.get_dataset("cifar10", split="train", root=str(root), verify_md5=False)
    model, optimizer = make_model_and_optimizer(channels_last=fast)
    order = torch.randperm(len(dataset))
    start = None
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        x, y = dataset.batch(order[i * BATCH : (i + 1) * BATCH], augment=True)
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        train_step(model, optimizer, x, y, amp=fast)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed steps of batch 128 per run (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each running every recipe once (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the main process (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from zoo.datasets.cifar import write_cifar10_folder

    recipes = {
        "course: PIL transforms per image, DataLoader(128, 2 workers), fp32": lambda root: course_recipe(root, args.steps, args.warmup),
        "hubzoo: batched tensor augmentation, fp32": lambda root: hubzoo_recipe(root, args.steps, args.warmup, fast=False),
        "hubzoo: batched tensor augmentation + channels-last + bf16 autocast": lambda root: hubzoo_recipe(root, args.steps, args.warmup, fast=True),
    }
    results: dict[str, list[float]] = {name: [] for name in recipes}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        n = (args.steps + args.warmup) * BATCH
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n + 1000, 3, 32, 32), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (n + 1000,), generator=generator)
        write_cifar10_folder(tmp, train=(images[:n], labels[:n]), test=(images[n:], labels[n:]))
        for r in range(args.rounds):
            for name, run in recipes.items():
                results[name].append(run(Path(tmp)))
                print(f"round {r + 1}: {name}: {results[name][-1]:.1f} samples/s", flush=True)
            loads.append(os.getloadavg()[0])
    course = results[next(iter(recipes))]
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, 1-minute load average "
          f"{min(loads):.1f}..{max(loads):.1f}; vgg16_cifar, batch {BATCH}, SGD(0.1, 0.9, wd 5e-4), {args.steps} timed steps "
          f"after {args.warmup}, {args.rounds} rounds, medians\n")
    print("| recipe | train samples/s | speed-up vs course |\n|---|---:|---:|")
    for name, values in results.items():
        ratio = statistics.median(v / c for v, c in zip(values, course))
        print(f"| {name} | {statistics.median(values):.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
