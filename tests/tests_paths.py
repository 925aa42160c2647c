"""The repository root, for tests that run commands from it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
