"""Occlusion with batched perturbations against one occluded image per forward pass.

captum's ``Occlusion`` can push ``perturbations_per_eval`` occluded copies through the
model at once; :func:`classifier.explain.occlusion` uses 16. This script times the
project's occlusion at that batch and at batch 1 (what captum does by default), in
alternating order in one process, and prints the median of the back-to-back ratios
(batch 1 / batch 16: how many times faster the batched version is) with each side's
median seconds. Random weights: the speed does not depend on them.

    python bench/occlusion.py [--model resnet18] [--window 32] [--stride 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from classifier import create_model, get_card  # noqa: E402
from classifier.explain.attributions import occlusion, occlusion_positions  # noqa: E402


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model).eval()
    c, h, w = get_card(args.model).input_size
    x = torch.randn(1, c, h, w)
    run = lambda batch: occlusion(model, x, 0, args.window, args.stride, batch=batch)  # noqa: E731
    run(args.batch)  # warm-up
    single, batched = [], []
    for i in range(args.repeats):
        order = [(1, single), (args.batch, batched)]
        for batch, times in order if i % 2 == 0 else order[::-1]:
            times.append(seconds(lambda: run(batch)))
    ratios = [s / b for s, b in zip(single, batched)]
    positions = occlusion_positions(h, w, args.window, args.stride)
    print(f"{args.model} at {h}×{w}, {positions} occluder positions, {torch.get_num_threads()} threads, {args.repeats} repeats")
    print(f"batch 1:  median {statistics.median(single):.2f} s")
    print(f"batch {args.batch}: median {statistics.median(batched):.2f} s")
    print(f"speed-up (batch 1 / batch {args.batch}), median of back-to-back ratios: {statistics.median(ratios):.2f}×")


if __name__ == "__main__":
    main()
