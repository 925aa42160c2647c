"""Shared set-up. Tests never touch the network: data is bundled or generated and
weights are random (or pre-filled into a temporary torch cache)."""

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

# Under pytest-xdist each worker is its own process: one torch thread apiece keeps the
# workers from fighting over the cores (CI has two).
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)
