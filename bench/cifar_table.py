"""The original project's CIFAR-10/100 table, reproduced with this zoo's nets.

The original repository's README reported top-1 after 50 epochs for 16 of its nets,
trained with Adam (weight decay 1e-4, constant rate), flip-only augmentation and batch
128 (figures and recipe: shared/research/weights-sources.md). This script trains our
closest variant of each with that recipe (``--recipe original``) or with the net's own
default recipe for the same epochs (``--recipe ours``), prints the original figure beside
ours with the seconds each net took, and appends every result to a JSON-lines file as it
comes, so a second call continues where the first stopped.

On a CUDA machine it trains with bf16 autocast (fp16 where bf16 is missing), channels-last
memory and 4 loader processes; the full table is

    python bench/cifar_table.py --recipe original          # 16 nets × CIFAR-10 and CIFAR-100
    python bench/cifar_table.py --recipe ours

On a CPU, ``--limit`` runs the first nets only, with ``--epochs`` and ``--seconds`` to cut
each run short; ``--dataset digits`` proves the whole path without the CIFAR download:

    python bench/cifar_table.py --dataset digits --limit 2 --epochs 1 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from classifier.train import TrainConfig  # noqa: E402
from recipes import RESULTS, read_rows, train_for  # noqa: E402  (bench/recipes.py)

# The original project's nets, our closest variant of each, and its reported top-1 on
# CIFAR-10 / CIFAR-100 (shared/research/weights-sources.md, "The original project's CIFAR
# table"). Where ours differs, the note says how.
ORIGINAL = (
    ("LeNet", "lenet5", 0.682, 0.345, "grey input"),
    ("AlexNet (cifarNet)", "alexnet_cifar", 0.791, 0.373, ""),
    ("NIN", "nin_cifar", 0.856, 0.592, ""),
    ("VGG13-BN", "vgg16_bn_cifar", 0.878, 0.576, "VGG-16 BN"),
    ("GoogLeNet-BN", "googlenet_cifar", 0.885, 0.623, ""),
    ("ResNet [3,3,3] bottleneck", "resnet20_cifar", 0.871, 0.641, "basic blocks"),
    ("PreAct ResNet", "preact_resnet164_cifar", 0.866, 0.604, "depth 164"),
    ("ResNeXt-29 32×4d", "resnext29_8x64d_cifar", 0.888, 0.653, "8×64d"),
    ("Xception-like", "xception_cifar", 0.863, 0.598, ""),
    ("DenseNet-121 layout, k=12", "densenet_bc100_cifar", 0.881, 0.623, "DenseNet-BC-100"),
    ("DPN (small)", "dpn68_cifar", 0.830, 0.526, "DPN-68"),
    ("SENet", "se_resnet110_cifar", 0.880, 0.619, "SE-ResNet-110"),
    ("SqueezeNet 1.1", "squeezenet1_1_cifar", 0.792, 0.417, ""),
    ("MobileNet v1 (shortened)", "mobilenet_v1_cifar", 0.842, 0.546, "full depth"),
    ("MobileNet v2 (shortened)", "mobilenet_v2_cifar", 0.867, 0.614, "full depth"),
    ("ShuffleNet (g=4, small)", "shufflenet_v1_g3_cifar", 0.773, 0.494, "g=3"),
)
# The original project's recipe; the rate is Adam's default, the one it did not change.
ORIGINAL_RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4, "schedule": "constant",
                   "warmup_epochs": 0.0, "augment": "flip", "batch_size": 128, "label_smoothing": 0.0}
EPOCHS = 50


def accelerator() -> dict:
    """CUDA with bf16 (fp16 without it), channels-last and loader processes; else the CPU."""
    if not torch.cuda.is_available():
        return {"device": "cpu"}
    amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"device": "cuda", "amp": amp, "channels_last": True, "workers": 4}


def config(model: str, dataset: str, recipe: str, epochs: int) -> TrainConfig:
    settings = ORIGINAL_RECIPE if recipe == "original" else {}
    return TrainConfig(model=model, dataset=dataset, epochs=epochs, **settings, **accelerator())


def table(rows: list[dict], nets, datasets: list[str], recipe: str) -> str:
    """Markdown: the original figure beside ours, per dataset, with our seconds."""
    ours = {(r["dataset"], r["model"]): r for r in rows if r["recipe_name"] == recipe}
    head = "| original net | our net | " + " | ".join(f"{d} original | {d} ours | {d} s" for d in datasets) + " |"
    lines = [head, "|---|---|" + "---:|---:|---:|" * len(datasets)]
    for title, model, c10, c100, note in nets:
        cells = []
        for d in datasets:
            figure = {"cifar10": f"{c10:.1%}", "cifar100": f"{c100:.1%}"}.get(d, "—")
            r = ours.get((d, model))
            cells += [figure, f"{r['best_top1']:.1%} ({r['epochs']:g} ep)" if r else "", f"{r['seconds']:.0f}" if r else ""]
        lines.append(f"| {title} | {model}{f' ({note})' if note else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=("original", "ours"), default="original")
    parser.add_argument("--dataset", nargs="+", choices=("cifar10", "cifar100", "digits"),
                        default=["cifar10", "cifar100"], help="digits: a CPU proof without the CIFAR download")
    parser.add_argument("--limit", type=int, help="only the first N nets of the table")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default {EPOCHS}, the original's")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="time limit of each run")
    parser.add_argument("--results", type=Path, default=RESULTS / "cifar_table.jsonl",
                        help="the file results are appended to and resumed from")
    args = parser.parse_args(argv)

    nets = ORIGINAL[: args.limit] if args.limit else ORIGINAL
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["dataset"], r["model"], r["recipe_name"], r["epoch_budget"]) for r in read_rows(args.results)}
    for dataset in args.dataset:
        for title, model, *_ in nets:
            if (dataset, model, args.recipe, args.epochs) in done:
                continue
            cfg = config(model, dataset, args.recipe, args.epochs)
            with tempfile.TemporaryDirectory() as tmp:
                row = train_for(cfg, args.seconds, Path(tmp))
            row.update(dataset=dataset, recipe_name=args.recipe, epoch_budget=args.epochs, device=cfg.device)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{dataset:8} {model:24} top-1 {row['best_top1']:6.1%} after {row['epochs']:g} epochs, "
                  f"{row['seconds']:.0f} s", flush=True)
    rows = [r for r in read_rows(args.results) if r["epoch_budget"] == args.epochs]
    print(table(rows, nets, args.dataset, args.recipe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
