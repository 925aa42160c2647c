"""The model registry: one place that knows every network and its card.

Each family file declares a :class:`Family` (paper, year, ideas) once and decorates
its builders with :func:`register_model`, which attaches a :class:`ModelCard` with the
variant's own facts (input size, the paper's parameter count, stage outputs). The app,
the CLI and the tests all go through :func:`list_models`, :func:`get_card` and
:func:`create_model`, so a new family appears everywhere by being registered.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch is imported where a model is built: `list` reads cards without it
    from torch import nn


@dataclass(frozen=True)
class Family:
    """Facts shared by every variant of one paper's networks."""

    name: str
    year: int
    paper: str
    arxiv: str | None
    ideas: tuple[str, ...]
    authors: str = ""

    @property
    def link(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None


@dataclass(frozen=True)
class Stage:
    """One resolution stage's output: the module producing it, its channels and stride."""

    module: str
    channels: int
    stride: int


@dataclass(frozen=True)
class ModelCard:
    """What the app shows and the tests check about one registered variant."""

    name: str
    family: Family
    variant: str
    input_size: tuple[int, int, int]
    num_classes: int
    paper_params: int | None = None
    params_source: str = ""
    stages: tuple[Stage, ...] = ()
    torchvision: str | None = None
    small_input: bool = False
    block: str | None = None
    notes: str = ""

    @property
    def year(self) -> int:
        return self.family.year

    @property
    def paper(self) -> str:
        return self.family.paper

    @property
    def link(self) -> str | None:
        return self.family.link

    @property
    def recipe(self):
        """The training recipe this variant starts from, with its source
        (:mod:`classifier.train.recipes`, kept there beside the papers it cites)."""
        from classifier.train.recipes import recipe_for

        return recipe_for(self)

    def to_dict(self) -> dict:
        """A JSON-ready view for the CLI and the app."""
        return {
            "name": self.name,
            "family": self.family.name,
            "variant": self.variant,
            "year": self.year,
            "paper": self.paper,
            "arxiv": self.family.arxiv,
            "link": self.link,
            "ideas": list(self.family.ideas),
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "paper_params": self.paper_params,
            "params_source": self.params_source,
            "stages": [vars(s) for s in self.stages],
            "torchvision": self.torchvision,
            "small_input": self.small_input,
            "block": self.block,
            "notes": self.notes,
        }


@dataclass
class _Entry:
    builder: Callable[..., nn.Module]
    card: ModelCard
    defaults: dict = field(default_factory=dict)


_REGISTRY: dict[str, _Entry] = {}
_loaded = False


def register_model(
    name: str,
    *,
    family: Family,
    variant: str,
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    paper_params: int | None = None,
    params_source: str = "",
    stages: tuple[Stage, ...] | list[tuple[str, int, int]] = (),
    torchvision: str | None = None,
    small_input: bool = False,
    block: str | None = None,
    notes: str = "",
    **defaults,
):
    """Register ``fn`` under ``name``; ``defaults`` become keyword arguments of the build.

    One builder function can serve several variants by being registered several times
    with different ``defaults`` (for example ``depth=50``). ``block`` names one
    representative submodule (an Inception module, a bottleneck) that the app draws on
    its own to show what the family's building block looks like.
    """
    stage_objs = tuple(s if isinstance(s, Stage) else Stage(*s) for s in stages)
    card = ModelCard(
        name=name,
        family=family,
        variant=variant,
        input_size=tuple(input_size),
        num_classes=num_classes,
        paper_params=paper_params,
        params_source=params_source,
        stages=stage_objs,
        torchvision=torchvision,
        small_input=small_input,
        block=block,
        notes=notes,
    )

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = _Entry(fn, card, dict(defaults))
        return fn

    return decorate


def _load_families() -> None:
    """Import every module of classifier.models once, so their decorators run."""
    global _loaded
    if _loaded:
        return
    from classifier import models

    for info in sorted(pkgutil.iter_modules(models.__path__), key=lambda m: m.name):
        importlib.import_module(f"{models.__name__}.{info.name}")
    _loaded = True


def _entry(name: str) -> _Entry:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `python -m classifier list`"
        raise ValueError(f"unknown model {name!r}{hint}") from None


def list_models(family: str | None = None, small_input: bool | None = None) -> list[str]:
    """Registered names, ordered by year, family and registration order."""
    _load_families()
    order = {n: i for i, n in enumerate(_REGISTRY)}
    names = [
        n
        for n, e in _REGISTRY.items()
        if (family is None or e.card.family.name == family)
        and (small_input is None or e.card.small_input == small_input)
    ]
    return sorted(names, key=lambda n: (_REGISTRY[n].card.year, _REGISTRY[n].card.family.name, order[n]))


def list_families() -> list[Family]:
    """Every family once, in the order of :func:`list_models`."""
    seen: dict[str, Family] = {}
    for n in list_models():
        fam = _REGISTRY[n].card.family
        seen.setdefault(fam.name, fam)
    return list(seen.values())


def get_card(name: str) -> ModelCard:
    return _entry(name).card


def create_model(name: str, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Build a registered model with random weights, in eval mode.

    Build under ``with torch.device("meta"):`` for shape-only analysis: no memory is
    allocated and even the largest nets build in milliseconds.
    """
    entry = _entry(name)
    args = {**entry.defaults, **kwargs}
    args["num_classes"] = entry.card.num_classes if num_classes is None else num_classes
    model = entry.builder(**args)
    return model.eval()


def create_meta_model(name: str, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Build a registered model on the meta device, without weights: shapes only, for
    analysis and parameter counts (even the largest nets build in milliseconds)."""
    import torch

    from classifier.meta_init import SkipInitOnMeta

    with torch.device("meta"), SkipInitOnMeta():
        return create_model(name, num_classes=num_classes, **kwargs)
