"""Cost of dataset examples against a bare forward loop over the same images, on CPU.

ResNet-50 (random weights) at 224×224, over ``--images`` generated photos written as
JPEG files into a temporary folder (random crops of the bundled samples at 256 px, so
every image really is decoded, resized and centre-cropped). The bare loop reads the same
files in the same batches through the same preprocessing and runs the whole network
under ``torch.inference_mode``; dataset examples (:func:`classifier.explain.units.dataset_examples`,
into an empty cache each time) searches the deepest spatial layer, ``layer4.2.relu_out``,
so its forward pass is the whole trunk too: the difference is the hook, the per-channel
maximum, the running top-k and the cache write. The two alternate ``--repeats`` times
after one warm-up; the script prints each side's median seconds and the median of the
back-to-back ratios (examples / bare loop; 1.0 means no overhead).

    python bench/units.py [--images 1000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

LAYER = "layer4.2.relu_out"


def write_images(folder: Path, count: int, seed: int = 0) -> None:
    from classifier.images import decode_image, sample_images

    rng = np.random.default_rng(seed)
    sources = [decode_image(p) for p in sample_images().values()]
    for n in range(count):
        im = sources[n % len(sources)]
        side = int(rng.integers(min(im.size) // 2, min(im.size) + 1))
        left, top = (int(rng.integers(0, d - side + 1)) for d in im.size)
        im.crop((left, top, left + side, top + side)).resize((256, 256)).save(folder / f"{n:05d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from classifier.explain import explainable_layers, find_layer
    from classifier.explain.unit_sets import folder_set
    from classifier.explain.units import BATCH, _batches, dataset_examples, weights_key
    from classifier.weights import load_weights

    work = Path(tempfile.mkdtemp(prefix="bench-units-"))
    try:
        (work / "images").mkdir()
        write_images(work / "images", args.images)
        images = folder_set(work / "images")
        loaded = load_weights("resnet50", "random")
        layer = find_layer(explainable_layers("resnet50", loaded.input_size, loaded.model), LAYER)
        weights = weights_key(loaded, "random")

        def bare() -> None:
            with torch.inference_mode():
                for _, x in _batches(images, loaded.preprocess, BATCH):
                    loaded.model(x)

        def examples(run: int) -> None:
            dataset_examples(loaded, weights, layer, images, k=9, root=work / f"cache-{run}")

        def timed(fn, *a) -> float:
            start = time.perf_counter()
            fn(*a)
            return time.perf_counter() - start

        warm = images.limited(BATCH)
        with torch.inference_mode():
            loaded.model(torch.cat([loaded.preprocess(warm.image(i)) for i in range(len(warm))]))
        print(f"ResNet-50 (random weights), {len(images)} images at 224 px, layer {LAYER}, "
              f"batch {BATCH}, {torch.get_num_threads()} torch threads")
        bare_s, ex_s, ratios = [], [], []
        for run in range(args.repeats):
            if run % 2 == 0:  # alternate which side goes first, so drifting load hits both
                b, e = timed(bare), timed(examples, run)
            else:
                e, b = timed(examples, run), timed(bare)
            bare_s.append(b)
            ex_s.append(e)
            ratios.append(e / b)
            print(f"  run {run + 1}: bare loop {b:.1f} s, dataset examples {e:.1f} s, ratio {e / b:.3f}")
        print(f"bare forward loop: median {statistics.median(bare_s):.1f} s "
              f"({statistics.median(bare_s) / len(images) * 1000:.0f} ms per image)")
        print(f"dataset examples:  median {statistics.median(ex_s):.1f} s")
        print(f"median ratio (examples / bare loop): {statistics.median(ratios):.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
