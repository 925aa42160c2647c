"""How long the architecture page's analysis takes, for every registered model.

For each model, fresh (the analysis cache cleared): build it on the meta device, trace
it and compute the summary, receptive fields and layer graph (``analyze``), then render
what the page shows (the text table, the graph at depth 1, at full depth and folded at
the card's block depth, where the page opens). The baseline is ``torchinfo.summary`` of
the same model, also built on the meta device, measured in the same process right
after, so the ratio holds on a busy machine too. Wall and CPU time are both printed: on
a shared machine wall time stretches with the load, CPU time much less.

    python bench/explorer.py                      # every registered model
    python bench/explorer.py resnet50 vgg16 -v    # some, with a line per model
    python bench/explorer.py --save after.json --before before.json --no-baseline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchinfo  # noqa: E402

from classifier import create_model, get_card, list_models  # noqa: E402
from classifier.analysis import analyze  # noqa: E402


def run_explorer(name: str) -> None:
    analyze.cache_clear()
    a = analyze(name)
    a.to_text()
    a.graph.to_dot(1)
    a.graph.to_dot(a.graph.max_depth)
    block = get_card(name).block
    a.graph.to_dot(min(len(block.split(".")) if block else 2, a.graph.max_depth), fold=True)


def run_torchinfo(name: str) -> None:
    c, h, w = get_card(name).input_size
    with torch.device("meta"):
        model = create_model(name)
    torchinfo.summary(model, input_size=(1, c, h, w), device="meta", verbose=0)


def best_of(fn, name: str, repeat: int) -> tuple[float, float]:
    """Fastest (wall, CPU) seconds of ``repeat`` runs. CPU time is reported next to wall
    time because a shared machine stretches wall time; the ratio uses wall time."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(name)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def _spread(times: dict[str, float]) -> str:
    """Median and worst case over the models, and how many took over a second."""
    worst = max(times, key=times.get)
    return (f"median {statistics.median(times.values()) * 1e3:7.1f} ms   worst {times[worst] * 1e3:7.1f} ms ({worst})"
            f"   over 1 s: {sum(t > 1 for t in times.values())} of {len(times)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="registered names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per model; the fastest counts")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per model")
    parser.add_argument("--no-baseline", action="store_true", help="skip torchinfo (halves the run)")
    parser.add_argument("--save", type=Path, help="write each model's wall and CPU seconds to this JSON file")
    parser.add_argument("--before", type=Path, help="a --save file of an earlier run: print its medians beside these")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    names = args.models or list_models()

    # The first analysis in a process loads torch's meta kernels and torch._dynamo (the
    # FLOP counter's dispatch is wrapped by it); the first torchinfo call has its own
    # warm-up. Pay both before timing anything.
    start = time.perf_counter()
    run_explorer(names[0])
    if not args.no_baseline:
        run_torchinfo(names[0])
    print(f"warm-up (once per process): {time.perf_counter() - start:.2f} s")

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    ratios: list[float] = []
    for name in names:
        wall[name], cpu[name] = best_of(run_explorer, name, args.repeat)
        base = None
        try:
            if not args.no_baseline:
                base = best_of(run_torchinfo, name, args.repeat)[0]
        except Exception as exc:  # a baseline failure must not hide our own figure
            print(f"{name}: torchinfo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if base:
            ratios.append(wall[name] / base)
        if args.verbose:
            base_s = f"{base * 1e3:8.1f} ms   ratio {wall[name] / base:5.2f}" if base else "     n/a"
            print(f"{name:28s} explorer {wall[name] * 1e3:8.1f} ms (CPU {cpu[name] * 1e3:7.1f} ms)   torchinfo {base_s}")

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"models: {len(names)}   (load average {load}; {os.cpu_count()} CPUs)")
    print("explorer (build on meta + summary + receptive fields + graph), per model, fresh:")
    for label, times in (("wall", wall), ("CPU ", cpu)):
        print(f"  {label}: {_spread(times)}")
    if args.save:
        args.save.write_text(json.dumps({n: {"wall": wall[n], "cpu": cpu[n]} for n in names}, indent=1) + "\n")
    if args.before:
        earlier = json.loads(args.before.read_text())
        common = [n for n in names if n in earlier]  # like for like: the models both runs timed
        print(f"before ({args.before.name}) and now, over the {len(common)} models both timed:")
        for key, now in (("wall", wall), ("CPU ", cpu)):
            print(f"  {key} before: {_spread({n: earlier[n][key.strip().lower()] for n in common})}")
            print(f"  {key} now:    {_spread({n: now[n] for n in common})}")
    if ratios:
        print("ratio explorer / torchinfo.summary (same model, meta device, same process):")
        print(f"  median {statistics.median(ratios):.2f}   best {min(ratios):.2f}   worst {max(ratios):.2f}"
              f"   ({len(ratios)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
