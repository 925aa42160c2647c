"""Shared set-up. Tests never touch the network: data is bundled or generated and
weights are random (or pre-filled into a temporary torch cache)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

# One torch thread per test process: under pytest-xdist the workers would fight over the
# cores (CI has two), and even alone two threads on a shared 2-core machine spin against
# each other and run many times slower.
import torch  # noqa: E402

torch.set_num_threads(1)
