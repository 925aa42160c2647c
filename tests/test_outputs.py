"""The multi-output convention: which logits are the network's prediction."""

import pytest
import torch

from classifier import create_model
from classifier.outputs import PredictionOnly, main_logits, split_outputs
from classifier.train.engine import training_loss


def test_tuple_is_main_then_auxiliary_and_list_is_exits_last_final():
    a, b, c = torch.zeros(1, 3), torch.ones(1, 3), torch.full((1, 3), 2.0)
    assert split_outputs(a) == (a, [])
    main, aux = split_outputs((a, b, None))
    assert main is a and aux == [b]
    main, exits = split_outputs([a, b, c])
    assert main is c and exits == [a, b]
    with pytest.raises(TypeError):
        split_outputs({"logits": a})


def test_msdnet_prediction_is_its_last_exit_everywhere():
    torch.manual_seed(0)
    model, x = create_model("msdnet_cifar"), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        exits = model(x)
        assert torch.equal(PredictionOnly(model)(x), exits[-1])
        assert torch.equal(main_logits(exits), exits[-1])
    labels = torch.tensor([1, 2])
    loss, logits = training_loss(exits, labels, torch.nn.CrossEntropyLoss())
    ce = torch.nn.functional.cross_entropy
    expected = ce(exits[-1], labels) + 0.3 * sum(ce(e, labels) for e in exits[:-1])
    assert torch.allclose(loss, expected) and logits is exits[-1]
