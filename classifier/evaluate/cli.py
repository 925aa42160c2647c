"""``python -m classifier evaluate``: top-1/top-5 of a model's weights on a labelled set."""

from __future__ import annotations

import argparse
import json


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from classifier.data.download import tqdm_progress
    from classifier.evaluate import evaluate, labelled_images
    from classifier.explain.cli import load_from_args

    loaded = load_from_args(args)
    images = labelled_images(args.data, loaded.class_names, progress=tqdm_progress()).limited(args.limit)
    with tqdm(total=len(images), unit="img", desc=f"evaluating {loaded.name}") as bar:
        result = evaluate(loaded, images, progress=lambda done, total: bar.update(done - bar.n),
                          batch_size=args.batch_size)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.to_text())
    return 0


def register(subparsers) -> None:
    from classifier.explain.cli import add_model_and_weights, positive

    p = subparsers.add_parser("evaluate", help="top-1/top-5 of a model's weights on a labelled image set")
    add_model_and_weights(p)
    p.add_argument("--data", required=True, help="digits, mnist, fashion_mnist, cifar10, cifar100 (test splits), or a folder: ImageNet synset sub-folders, "
                   "a labels.txt/labels.csv of 'file,label' lines, or sub-folders named like the weights' classes")
    p.add_argument("--limit", type=positive, help="evaluate at most N images, drawn at random (fixed seed)")
    p.add_argument("--batch-size", type=positive, default=32, help="images per forward pass (default 32)")
    p.add_argument("--json", action="store_true", help="print the result, per-class rows and mistakes as JSON")
    p.set_defaults(run=_cmd_evaluate)
