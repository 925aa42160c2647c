"""Cost of the project's explanations against captum called directly, on CPU.

ResNet-50 at 224×224. Both sides hold the same weights: a randomly initialised
torchvision ResNet-50 is written into a temporary torch cache, our model loads it through
the ImageNet path (``load_weights(..., "imagenet")``) and captum runs on that torchvision
model itself (its in-place ReLUs switched off, as in the correctness tests). Each method
runs on both sides ``--repeats`` times after one warm-up, in alternating order, and the
script prints each side's best time, their ratio, and the median of the back-to-back
ratios (project / captum; 1.0 means no overhead): the two figures a busy machine
disturbs least.
The temporary torch cache is removed at the end.

    python bench/explain.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402
from captum.attr import (  # noqa: E402
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NeuronDeconvolution,
    Occlusion,
    Saliency,
)
from torch import nn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    home = tempfile.mkdtemp(prefix="bench-torch-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["TORCH_HOME"] = home

    from classifier.explain import (
        attribute,
        deconvolution,
        explainable_layers,
        find_layer,
        neuron_deconvolution,
        occlusion,
    )
    from classifier.weights import load_weights
    from classifier.weights.files import url_path
    from classifier.weights.loading import imagenet_entry

    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    for m in reference.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    path = url_path(imagenet_entry("resnet50"))
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    model = load_weights("resnet50", "imagenet").model
    x = torch.randn(1, 3, 224, 224)
    target, unit = 3, (5, 7, 7)
    layers = explainable_layers("resnet50", (3, 224, 224), model)
    last, mid = find_layer(layers, "layer4.2.relu_out"), find_layer(layers, "layer3.5.relu_out")

    def grad_input():
        return x.clone().requires_grad_(True)

    def probabilities(inp):
        return reference(inp).softmax(1)

    def captum_occlusion():
        with torch.no_grad():
            Occlusion(probabilities).attribute(
                x,
                sliding_window_shapes=(3, 56, 56),
                strides=(3, 56, 56),
                baselines=0.0,
                target=target,
                perturbations_per_eval=16,
            )

    def captum_gradcam():
        cam = LayerGradCam(reference, reference.layer4).attribute(grad_input(), target=target, relu_attributions=True)
        LayerAttribution.interpolate(cam, (224, 224), interpolate_mode="bilinear")

    cases = {
        "deconvnet (class)": (
            lambda: deconvolution(model, x, target),
            lambda: Deconvolution(reference).attribute(grad_input(), target=target),
        ),
        "deconvnet (one unit)": (
            lambda: neuron_deconvolution(model, x, mid, unit[0], unit[1:]),
            lambda: NeuronDeconvolution(reference, reference.layer3).attribute(grad_input(), neuron_selector=unit),
        ),
        "guided backprop": (
            lambda: attribute(model, x, "guided", target),
            lambda: GuidedBackprop(reference).attribute(grad_input(), target=target),
        ),
        "saliency": (
            lambda: attribute(model, x, "saliency", target),
            lambda: Saliency(reference).attribute(grad_input(), target=target, abs=False),
        ),
        "grad-cam": (lambda: attribute(model, x, "gradcam", target, layer=last), captum_gradcam),
        "guided grad-cam": (
            lambda: attribute(model, x, "guided_gradcam", target, layer=last),
            lambda: GuidedGradCam(reference, reference.layer4).attribute(grad_input(), target=target),
        ),
        "integrated gradients (16 steps)": (
            lambda: attribute(model, x, "ig", target, ig_steps=16, ig_batch=8),
            lambda: IntegratedGradients(reference).attribute(
                grad_input(), baselines=torch.zeros_like(x), target=target, n_steps=16, internal_batch_size=8
            ),
        ),
        "occlusion (56 px, 16 positions)": (
            lambda: occlusion(model, x, target, window=56, stride=56),
            captum_occlusion,
        ),
    }

    print(
        f"ResNet-50, 1×3×224×224, CPU, {torch.get_num_threads()} threads, {args.repeats} repeats, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'method':<34}{'project ms':>12}{'captum ms':>12}{'best/best':>11}{'median ratio':>14}")
    ratios, best_ratios = [], []
    for name, (ours, theirs) in cases.items():
        ours(), theirs()  # warm-up
        pairs = []
        for i in range(args.repeats):
            order = [ours, theirs] if i % 2 == 0 else [theirs, ours]  # alternate, so drift cancels
            took = {}
            for fn in order:
                start = time.perf_counter()
                fn()
                took[fn] = time.perf_counter() - start
            pairs.append((took[ours], took[theirs]))
        ratio = statistics.median(a / b for a, b in pairs)
        ratios.append(ratio)
        best_ours, best_theirs = min(a for a, _ in pairs), min(b for _, b in pairs)
        best_ratios.append(best_ours / best_theirs)
        print(
            f"{name:<34}{1000 * best_ours:>12.1f}{1000 * best_theirs:>12.1f}"
            f"{best_ours / best_theirs:>11.2f}{ratio:>14.2f}"
        )
    print(
        f"over methods: median of the median ratios {statistics.median(ratios):.2f} (max {max(ratios):.2f}), "
        f"median of best/best {statistics.median(best_ratios):.2f} (max {max(best_ratios):.2f}); expected ≤ 1.2"
    )


if __name__ == "__main__":
    main()
