"""Seconds per interaction on the app's main pages, driven through Streamlit's AppTest.

Each step is one user action (open a page, pick a model, switch a tab, move a slider)
on the real pages with their defaults, random weights and the bundled images; the
script prints the seconds of each, slowest first, with the median of ``--repeats``
fresh sessions (a fresh AppTest per repeat, in one process: the first repeat pays the
process's one-off imports and warm-ups, later ones are "warm").

    python bench/pages.py [--repeats 2] [--only Compare]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402


def page(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    for key, value in state.items():
        at.session_state[key] = value
    if path != "app_pages/architectures.py":
        at.switch_page(path)
    return at


def steps():
    """(page, step name, action) in the order a user meets them; each action gets the
    AppTest the previous steps of its page left behind."""
    arch = lambda at: at.selectbox(key="arch_model").set_value("resnet50")  # noqa: E731
    return {
        "Architectures": (lambda: page("app_pages/architectures.py"), [
            ("first view (default net)", lambda at: None),
            ("pick the ResNet family", lambda at: at.selectbox(key="arch_family").set_value("ResNet")),
            ("pick ResNet-50", arch),
            ("input side 448", lambda at: at.number_input(key="arch_side_resnet50").set_value(448)),
        ]),
        "Inspect": (lambda: page("app_pages/inspect.py", inspect_model="resnet18"), [
            ("first view (ResNet-18, random)", lambda at: None),
            ("Attributions tab", lambda at: at.session_state.__setitem__("inspect_tab", "Attributions")),
            ("Occlusion tab (explicit job)", lambda at: at.session_state.__setitem__("inspect_tab", "Occlusion")),
        ]),
        "Compare": (lambda: page("app_pages/compare.py"), [
            ("first view (two nets)", lambda at: None),
            ("change one model", lambda at: at.session_state.__setitem__("compare_model_1", "mobilenet_v2")),
        ]),
        "Evaluate": (lambda: page("app_pages/evaluate.py"), [("first view", lambda at: None)]),
        "Train": (lambda: page("app_pages/train.py"), [("first view", lambda at: None)]),
        "Concepts": (lambda: page("app_pages/concepts.py"), [
            ("first view", lambda at: None),
            ("Convolution arithmetic", lambda at: at.radio(key="concept").set_value("Convolution arithmetic")),
            ("Normalisation", lambda at: at.radio(key="concept").set_value("Normalisation")),
        ]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", help="one page's steps")
    args = parser.parse_args()
    os.environ.setdefault("CLASSIFIER_RUNS_DIR", tempfile.mkdtemp(prefix="bench-runs-"))
    os.environ.setdefault("TORCH_HOME", tempfile.mkdtemp(prefix="bench-torch-"))  # no cached weights: random
    times: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats):
        for name, (start, actions) in steps().items():
            if args.only and name != args.only:
                continue
            at = start()
            for step, action in actions:
                action(at)
                began = time.perf_counter()
                at.run()
                seconds = time.perf_counter() - began
                if at.exception:
                    raise SystemExit(f"{name} / {step}: {at.exception}")
                times.setdefault((name, step), []).append(seconds)
                print(f"  repeat {repeat + 1}: {name} / {step}: {seconds:.1f} s", file=sys.stderr, flush=True)
    rows = sorted(((statistics.median(v[1:] or v), v[0], k) for k, v in times.items()), reverse=True)
    print(f"{'page':<14} {'step':<34} {'warm median s':>13} {'first s':>8}")
    for warm, first, (name, step) in rows:
        print(f"{name:<14} {step:<34} {warm:>13.1f} {first:>8.1f}")


if __name__ == "__main__":
    main()
