"""``python -m classifier predict`` and ``python -m classifier explain``.

predict prints the top five classes of each image; explain writes one explanation of one
image as a PNG, the same picture the Inspect page offers for download. A bad image,
model, layer or checkpoint is one line on stderr and exit status 2 (see classifier.cli).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CLI_METHODS = ("deconv", "guided", "gradcam", "ig", "occlusion")


def load_from_args(args: argparse.Namespace):
    """The model and weights that --model and --weights name, downloads with a bar."""
    from classifier.data.download import tqdm_progress
    from classifier.weights import load_weights

    return load_weights(args.model, args.weights, progress=tqdm_progress())


def _cmd_predict(args: argparse.Namespace) -> int:
    from classifier.explain.predict import predict
    from classifier.images import decode_image

    loaded = load_from_args(args)
    if not loaded.pretrained:
        print("note: random weights (untrained); these predictions mean nothing")
    for path in args.images:
        image = decode_image(path)
        print(path)
        for rank, p in enumerate(predict(loaded.model, loaded.preprocess(image), loaded.class_names, k=5), start=1):
            print(f"  {rank}. {p.label:<30} {100 * p.probability:6.2f}%")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from classifier.cli import UserError
    from classifier.explain import figures
    from classifier.explain.attributions import attribute, gradcam_layers, occlusion
    from classifier.explain.deconvnet import deconvolution, top_projections
    from classifier.explain.layer_info import explainable_layers, find_layer
    from classifier.explain.predict import predict
    from classifier.explain.render import png_bytes
    from classifier.images import decode_image

    if args.method == "gradcam" and not args.layer:
        raise UserError("--method gradcam needs --layer (a spatial layer; see `summary MODEL`)")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, not {args.out}")
    loaded = load_from_args(args)
    cropped = loaded.preprocess.crop(decode_image(args.image))
    x, image = loaded.preprocess.tensor(cropped), figures.rgb(np.asarray(cropped))
    layers = explainable_layers(loaded.name, loaded.input_size, loaded.model)
    layer = find_layer(layers, args.layer) if args.layer else None
    if args.method == "gradcam" and layer not in gradcam_layers(layers):
        raise UserError(f"Grad-CAM needs a spatial layer with more than one position, not {args.layer}")
    target = args.target if args.target is not None else predict(loaded.model, x, loaded.class_names, 1)[0].index
    if not 0 <= target < len(loaded.class_names):
        raise UserError(f"--target must be a class index from 0 to {len(loaded.class_names) - 1}")
    if args.method == "deconv" and layer is not None:
        picture = figures.projection_sheet(top_projections(loaded.model, x, layer, k=args.top), image)
    elif args.method == "deconv":
        picture = figures.attribution_figure(deconvolution(loaded.model, x, target), "deconv", image, 1.0)
    elif args.method == "occlusion":
        result = occlusion(loaded.model, x, target, window=args.window, stride=args.stride)
        picture = figures.occlusion_figure(result, image, opacity=0.7)
    else:
        attr = attribute(loaded.model, x, args.method, target, layer=layer)
        picture = figures.attribution_figure(attr, args.method, image, opacity=0.6 if args.method == "gradcam" else 1.0)
    try:
        out.write_bytes(png_bytes(picture))
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"{args.method} of {loaded.name} for class {target} ({loaded.class_names[target]}) written to {out}")
    return 0


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def add_model_and_weights(p: argparse.ArgumentParser) -> None:
    """--model and --weights, as predict, explain and evaluate take them."""
    p.add_argument("--model", required=True, help="registered model name (see `list`)")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="an entry id from `weights MODEL` (downloaded once), imagenet (the model's best ImageNet entry), "
        "random, or a checkpoint file (default: imagenet)",
    )


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="top-5 classes of images")
    add_model_and_weights(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG, WebP, BMP, GIF or TIFF files")
    p.set_defaults(run=_cmd_predict)

    p = subparsers.add_parser("explain", help="write one explanation of an image as a PNG")
    add_model_and_weights(p)
    p.add_argument(
        "--method",
        required=True,
        choices=CLI_METHODS,
        help="deconv (ZFNet; with --layer: its top channels' projections), guided backprop, "
        "Grad-CAM, integrated gradients, occlusion",
    )
    p.add_argument("--layer", help="layer name as in `summary MODEL` (needed by gradcam; used by deconv)")
    p.add_argument("--target", type=int, help="class index to explain (default: the top prediction)")
    p.add_argument("--top", type=positive, default=9, help="deconv with --layer: channels to project (default 9)")
    p.add_argument("--window", type=positive, default=32, help="occlusion: occluder side in pixels (default 32)")
    p.add_argument("--stride", type=positive, default=16, help="occlusion: occluder step in pixels (default 16)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("image", metavar="IMAGE")
    p.set_defaults(run=_cmd_explain)
