"""How long a two-model comparison takes on CPU: ResNet-50 against ViT-B/16 at 224×224,
random weights, one sample image.

A comparison is what the Compare page computes for its first view: for each model the
top-5 and every stage's maps (:func:`classifier.compare.look`), one attribution of its
top-1 class (:func:`classifier.compare.explain`, guided backprop by default), then the
agreement figures. Loading is timed on its own (the page caches loaded models), as are
the other attribution methods, the PNG export and, with ``--cka``, CKA over the 24
sample views. Each step runs ``--repeats`` times and the script prints medians and their
ratio to the baseline measured in the same process: one plain forward pass of both
models.

    python bench/compare.py [--repeats 3] [--threads N] [--method guided] [--cka]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

MODELS = ("resnet50", "vit_b_16")


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--method", default="guided", help="the attribution of the timed comparison")
    parser.add_argument("--cka", action="store_true", help="also time CKA over the 24 sample views")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from classifier.cka import similarity
    from classifier.compare import METHODS, agreement, comparison_image, explain, look, sample_set
    from classifier.images import decode_image, sample_images
    from classifier.weights import load_weights

    picture = decode_image(sample_images()["ball on grass"])
    load_s, loaded = timed(lambda: [load_weights(name, "random") for name in MODELS], args.repeats)
    inputs = [m.preprocess(picture) for m in loaded]
    for m, x in zip(loaded, inputs):  # warm-up: first calls pay for allocation and the shape analysis
        look(m, picture)
        with torch.no_grad():
            m.model(x)

    def forward():
        with torch.no_grad():
            for m, x in zip(loaded, inputs):
                m.model(x)

    def comparison(method=args.method):
        views = [look(m, picture) for m in loaded]
        explanations = [explain(v, method) for v in views]
        return views, explanations, agreement(views, explanations)

    base_s, _ = timed(forward, args.repeats)
    look_s, views = timed(lambda: [look(m, picture) for m in loaded], args.repeats)
    total_s, (views, explanations, agree) = timed(comparison, args.repeats)
    rows = [
        ("baseline: one forward pass of both", base_s),
        ("loading both (random init, cached by the page)", load_s),
        ("top-5 + stage maps of both (look)", look_s),
        (f"comparison with {METHODS[args.method]} (look + explain + agreement)", total_s),
    ]
    for method in METHODS:
        seconds, _ = timed(lambda: [explain(v, method) for v in views], args.repeats)
        rows.append((f"  {METHODS[method]} for both", seconds))
    png_s, _ = timed(lambda: comparison_image(views, explanations, agree), args.repeats)
    rows.append(("PNG export of the comparison", png_s))
    if args.cka:
        images = sample_set()
        cka_s, _ = timed(lambda: similarity(loaded[0], loaded[1], images, "blocks"), args.repeats)
        rows.append((f"CKA over {len(images)} images, repeated blocks (16 × 12)", cka_s))

    print(f"{' vs '.join(MODELS)}, 3×224×224, random weights, CPU, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'step':<72}{'seconds':>9}{'× forward':>11}")
    for name, seconds in rows:
        print(f"{name:<72}{seconds:>9.2f}{seconds / base_s:>11.1f}")
    print("agreement:", "; ".join(agree.summary()))


if __name__ == "__main__":
    main()
