"""Classifier Explorer: a readable PyTorch zoo of the classic image classifiers.

The library never imports streamlit; the app in ``app.py`` and ``app_pages/`` is a thin
layer over it, and everything here works from a notebook or the CLI.
"""

from classifier.registry import (
    Family,
    ModelCard,
    Stage,
    create_model,
    get_card,
    list_families,
    list_models,
    register_model,
)

__all__ = [
    "Family",
    "ModelCard",
    "Stage",
    "create_model",
    "get_card",
    "list_families",
    "list_models",
    "register_model",
]
