"""The registry: names, cards, errors, and that every card's claims hold."""

import pytest
import torch

from classifier import create_model, get_card, list_families, list_models
from classifier.outputs import main_logits
from classifier.registry import Family, register_model
from model_checks import check_stages

ALL = list_models()


def test_zoo_is_populated_and_ordered_by_year():
    assert len(ALL) >= 10
    years = [get_card(n).year for n in ALL]
    assert years == sorted(years)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="resnet50"):
        create_model("resnet5O")
    with pytest.raises(ValueError, match="unknown model"):
        get_card("definitely-not-a-model")


def test_double_registration_is_refused():
    fam = Family("Test", 2000, "A paper", None, ("an idea",))
    with pytest.raises(ValueError, match="registered twice"):
        register_model(ALL[0], family=fam, variant="dup")(lambda num_classes: torch.nn.Identity())


def test_families_are_unique_and_cover_every_model():
    fams = list_families()
    assert len({f.name for f in fams}) == len(fams)
    assert {get_card(n).family.name for n in ALL} == {f.name for f in fams}


@pytest.mark.parametrize("name", ALL)
def test_card_is_complete(name):
    card = get_card(name)
    assert card.name == name and card.variant
    assert 1980 < card.year < 2030 and card.paper
    assert 2 <= len(card.family.ideas) <= 5
    assert card.paper_params is None or card.params_source, "a paper figure needs its source"
    if card.small_input:
        assert card.input_size[1:] == (32, 32)
    d = card.to_dict()
    assert d["name"] == name and d["year"] == card.year


@pytest.mark.parametrize("name", ALL)
def test_num_classes_override(name):
    card = get_card(name)
    with torch.device("meta"):
        out = create_model(name, num_classes=7)(torch.empty(1, *card.input_size))
    logits = main_logits(out)
    assert logits.shape == (1, 7)


@pytest.mark.parametrize("name", ALL)
def test_card_stages_are_real(name):
    """The card's stages name real modules whose outputs have the stated channels and stride."""
    check_stages(name)
