"""``python -m classifier units``: a layer's dataset examples written as PNGs.

One ZFNet Figure-2 grid per channel (projections left, image patches right), the
strongest channels first, and ``index.json`` saying for each file which images, units,
activations and receptive-field boxes it shows. The search is cached (see
:mod:`classifier.explain.units`), so a second run with more channels only projects.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

from classifier.explain.cli import add_model_and_weights, load_from_args, positive


def _example_set(data: str, limit: int | None):
    from classifier.data.folder import UnsafeArchive
    from classifier.explain.unit_sets import example_set, unzipped
    from classifier.explain.units import cache_dir

    path = Path(data)
    if path.suffix.lower() == ".zip" and path.is_file():
        try:
            data = str(unzipped(path.read_bytes(), path.name, cache_dir() / "zips"))
        except (UnsafeArchive, OSError, zipfile.BadZipFile) as exc:
            raise ValueError(f"the zip {path.name} cannot be used: {exc}") from None
    return example_set(data).limited(limit)


def _cmd_units(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from classifier.cli import UserError
    from classifier.explain.layer_info import default_layer, explainable_layers, find_layer
    from classifier.explain.units import channel_png, dataset_examples, weights_key

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out must be a folder, and {args.out} is a file")
    images = _example_set(args.data, args.limit)
    loaded = load_from_args(args)
    layers = explainable_layers(loaded.name, loaded.input_size, loaded.model)
    layer = find_layer(layers, args.layer) if args.layer else layers[default_layer(layers)]
    with tqdm(total=len(images), unit="image", desc=f"{layer.name} over {len(images)} images") as bar:
        examples = dataset_examples(loaded, weights_key(loaded, args.weights), layer, images, k=args.k,
                                    progress=lambda done, total: bar.update(done - bar.n))
    channels = examples.strongest_channels()[: args.channels or None]
    out.mkdir(parents=True, exist_ok=True)
    size = loaded.preprocess.crop_size
    index = {"model": loaded.name, "weights": loaded.source, "layer": layer.name, "set": images.description,
             "images": examples.count, "k": examples.k, "cached": examples.cached, "channels": []}
    for c in tqdm(channels, unit="channel", desc="deconvnet projections"):
        name = f"channel-{c:04d}.png"
        (out / name).write_bytes(channel_png(loaded, examples, images, c))
        index["channels"].append({"channel": c, "file": name, "examples": [
            {"image": images.names[int(examples.images[c, r])], "unit": list(examples.unit(c, r)),
             "activation": round(float(examples.values[c, r]), 6),
             "box": list(layer.box(examples.unit(c, r), size))}
            for r in range(examples.k)
        ]})
    (out / "index.json").write_text(json.dumps(index, indent=2))
    how = "read from the cache" if examples.cached else "searched"
    print(f"{len(channels)} channels of {layer.name} ({how}, {examples.count} images) written to {out}")
    return 0


def _count(text: str) -> int:
    """A channel count: a whole number, 0 meaning every channel."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected 0 (all) or a positive integer, not {text!r}")
    return int(text)


def register(subparsers) -> None:
    p = subparsers.add_parser("units", help="a layer's dataset examples (ZFNet Fig. 2), one PNG per channel")
    add_model_and_weights(p)
    p.add_argument("--layer", help="layer name as in `summary MODEL` (default: the activation nearest the middle)")
    p.add_argument("--data", required=True,
                   help="samples, digits, cifar10, cifar100 (from the data cache), a folder of images "
                        "(an ImageNet-style folder included) or a .zip of one")
    p.add_argument("--k", type=positive, default=9, help="examples per channel (default 9)")
    p.add_argument("--channels", type=_count, default=16, help="strongest channels to draw (default 16; 0: all)")
    p.add_argument("--limit", type=positive, help="at most this many images, drawn at random (fixed seed)")
    p.add_argument("--out", required=True, help="folder to write channel-NNNN.png and index.json into")
    p.set_defaults(run=_cmd_units)
