"""Shared set-up. Tests never touch the network: data is bundled or generated and
weights are random (or pre-filled into a temporary torch cache)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]
