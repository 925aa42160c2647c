"""Every registered model's card as JSON, written ahead of time, for readers that need
the cards and no model: ``python -m classifier list`` answers from it without importing
torch or a single family file (which cost seconds, every call).

The index carries a fingerprint of the sources the cards come from (the family files
and the registry). Where it no longer matches, say in a checkout whose family files
changed since the index was written, the cards are read from the registry instead,
so the answer is never stale; a test checks that the committed index is current.
Rewrite it with ``python -m classifier.card_index``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
INDEX = PACKAGE / "card_index.json"


def sources() -> list[Path]:
    """The files whose text decides the cards."""
    return [PACKAGE / "registry.py", *sorted((PACKAGE / "models").glob("*.py"))]


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sources():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def registry_cards() -> list[dict]:
    """The cards as the registry has them (imports every family), in ``list_models`` order."""
    from classifier.registry import get_card, list_models

    return [get_card(n).to_dict() for n in list_models()]


def cards() -> list[dict]:
    """Every card as a dict (:meth:`ModelCard.to_dict`), in ``list_models`` order: from
    the index where it is current, else from the registry."""
    try:
        index = json.loads(INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    if index.get("fingerprint") == fingerprint():
        return index["cards"]
    return registry_cards()


def write() -> Path:
    INDEX.write_text(json.dumps({"fingerprint": fingerprint(), "cards": registry_cards()}, indent=1,
                                ensure_ascii=False) + "\n", encoding="utf-8")
    return INDEX


if __name__ == "__main__":
    print(f"wrote {write()}")
