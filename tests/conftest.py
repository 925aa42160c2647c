"""Shared fixtures. Tests never touch the network: data is bundled or generated and
weights are random (or pre-filled into a temporary torch cache)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TORCH_HOME", str(ROOT / ".pytest_cache" / "torch-home-unused"))
