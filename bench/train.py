"""Training throughput of the engine against a bare PyTorch loop, in one process.

The engine trains one epoch with everything a run does per batch (schedule step,
running sums, a metrics line and status update every logged step, stop checks); the
baseline is the minimal loop (forward, cross-entropy, zero_grad, backward, step) over
the very same DataLoader, on a copy of the same model, on the same device. Both are
timed alternately after a warm-up epoch; the medians of the repeats give the ratio,
which should stay at 0.95 or above. On a CUDA machine the engine is also timed with
bf16 autocast and channels_last against its own fp32.

    python bench/train.py                                   # resnet20_cifar on digits
    python bench/train.py --model resnet56_cifar --batch-size 256 --workers 4 --repeats 7
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from classifier.train import RunDir, TrainConfig, Trainer  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_epoch(trainer: Trainer) -> float:
    """Images per second of one engine epoch (the epoch counter is rewound afterwards
    so every repeat runs the same schedule segment)."""
    images = trainer.steps_per_epoch * trainer.batch
    sync(trainer.device)
    start = time.perf_counter()
    trainer.train_epoch()
    sync(trainer.device)
    elapsed = time.perf_counter() - start
    trainer.epoch -= 1
    return images / elapsed


def bare_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, trainer: Trainer) -> float:
    device, criterion, images = trainer.device, nn.CrossEntropyLoss(), 0
    model.train()
    trainer.sampler.set_epoch(trainer.epoch)
    sync(device)
    start = time.perf_counter()
    for x, y in trainer.train_loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        images += len(y)
    sync(device)
    return images / (time.perf_counter() - start)


def make_trainer(root: Path, name: str, args, **overrides) -> Trainer:
    cfg = TrainConfig(model=args.model, dataset=args.dataset, epochs=1000, batch_size=args.batch_size,
                      augment="none", device=args.device, workers=args.workers, **overrides)
    return Trainer(cfg, RunDir(root, name))


def compare(label: str, first, second, repeats: int) -> float:
    """Alternate the two measurements; print medians and return the ratio first/second."""
    first(), second()  # warm-up: allocator, cuDNN autotuning, worker start
    a, b = [], []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    ratio = statistics.median(a) / statistics.median(b)
    print(f"{label}: {statistics.median(a):,.0f} vs {statistics.median(b):,.0f} images/s, ratio {ratio:.3f}")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20_cifar")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        trainer = make_trainer(root, "engine", args)
        model = copy.deepcopy(trainer.model)
        optimizer = torch.optim.SGD(model.parameters(), lr=trainer.cfg.lr, momentum=trainer.cfg.momentum,
                                    weight_decay=trainer.cfg.weight_decay)
        print(f"{args.model} on {args.dataset}, batch {args.batch_size}, {trainer.device}, "
              f"{trainer.steps_per_epoch} steps an epoch, a metrics line every {trainer.log_every}")
        ratio = compare("engine vs bare loop", lambda: engine_epoch(trainer),
                        lambda: bare_epoch(model, optimizer, trainer), args.repeats)
        print(f"ratio {ratio:.3f} (expected >= 0.95)")
        if trainer.device.type == "cuda":
            fast = make_trainer(root, "amp", args, amp="bf16", channels_last=True)
            compare("bf16 + channels_last vs fp32 (engine)", lambda: engine_epoch(fast),
                    lambda: engine_epoch(trainer), args.repeats)
        trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
