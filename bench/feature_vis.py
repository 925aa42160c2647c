"""Seconds per 256 steps of feature visualisation on CPU, GoogLeNet and ResNet-50 at
224×224 with random weights (the cost does not depend on what the weights learned).

For each model and objective (the class logit: the whole net; and a channel of the default
layer: the forward pass stops there) the script times ``--steps`` steps of
:func:`classifier.explain.feature_vis.visualise` and, in the same process, the bare loop
it cannot beat: the same number of forward passes on a fixed input tensor with
``autograd.grad`` of the objective for that input. It prints seconds per 256 steps, their
ratio (visualise / bare: the cost of the Fourier image, colour mixing and random
transforms), and what one step's parts cost: forward alone, forward + the input's
gradient (what visualise asks for), forward + a full backward (weights too, as in
training) — the figures behind the cost estimate's "backward ≈ 2× forward".

    python bench/feature_vis.py [--steps 256] [--threads 1] [--models googlenet resnet50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Seconds per call, the best of ``repeats`` (the figure a busy machine disturbs least)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--models", nargs="+", default=["googlenet", "resnet50"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from classifier.explain import default_layer, explainable_layers
    from classifier.explain import feature_vis as fv
    from classifier.weights import load_weights

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.steps} steps per run")
    for name in args.models:
        loaded = load_weights(name, "random")
        model = loaded.model
        layers = explainable_layers(name, loaded.input_size, model)
        x = torch.randn(1, *loaded.input_size)
        for objective in (fv.Objective(0), fv.Objective(0, layers[default_layer(layers)])):

            def input_grad():  # one bare step: forward, then the input's gradient alone
                inp = x.clone().requires_grad_(True)
                torch.autograd.grad(fv.objective_value(model, objective, inp).sum(), [inp])

            def full_backward():  # forward, then every gradient, the weights' included
                model.zero_grad(set_to_none=True)
                fv.objective_value(model, objective, x.clone().requires_grad_(True)).sum().backward()

            with torch.no_grad():
                forward = timed(lambda: fv.objective_value(model, objective, x), 3)
            step = timed(input_grad, 3)
            full = timed(full_backward, 3)
            model.zero_grad(set_to_none=True)
            bare = timed(lambda: [input_grad() for _ in range(args.steps)], 1)
            ours = timed(lambda: fv.visualise(model, objective, loaded.preprocess, steps=args.steps, seed=0), 1)
            per = 256 / args.steps
            macs = fv.cost(name, loaded.input_size, objective, 1).forward_macs
            print(
                f"{name:10s} {objective.label:40s} forward {macs / 1e9:5.2f} GMAC | 256 steps: visualise "
                f"{ours * per:6.1f} s, bare loop {bare * per:6.1f} s, ratio {ours / bare:.2f} | one step: "
                f"forward {forward * 1e3:.0f} ms, +input grad x{step / forward:.2f}, "
                f"+full backward x{full / forward:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
