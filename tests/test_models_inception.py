"""The Inception lineage (GoogLeNet, BN-Inception, Inception-v3, Inception-v4 and
Inception-ResNet) and Xception: model rules, published parameter counts, torchvision
logits, published receptive fields, and the lineage the app draws."""

import pytest
import torch
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    check_torchvision_names_and_shapes,
    meta_param_count,
)
from torch import nn

from classifier import create_model, get_card, list_models
from classifier.analysis import analyze
from classifier.layers import BasicConv2d, DepthwiseSeparableConv
from classifier.lineage import INCEPTION_LINEAGE
from classifier.models.inception_v4 import InceptionResNetBlock, resnet_block_a, resnet_block_b, resnet_block_c

# Smallest input each ImageNet stem allows: GoogLeNet's last 3×3/2 pool needs 31 (15 with
# torchvision's 2×2 one) and the valid convs of the v3/v4 stems need 75. Inception-v3's
# auxiliary head needs the 17×17 map of a 299 input, so it is checked on its own.
SIZES = {
    "googlenet": 31,
    "googlenet_tv": 15,
    "inception_v2": 8,
    "inception_v3": 75,
    "inception_v4": 75,
    "inception_resnet_v1": 75,
    "inception_resnet_v2": 75,
    "xception": 8,
}
SMALL = [
    "googlenet_cifar",
    "inception_v2_cifar",
    "inception_v3_cifar",
    "inception_resnet_v1_cifar",
    "xception_cifar",
]
FAMILIES = ["GoogLeNet", "BN-Inception", "Inception-v3", "Inception-v4", "Xception"]


@pytest.mark.parametrize("name", list(SIZES))
def test_imagenet_model_rules(name):
    check_model(name, size=SIZES[name], **({"aux_logits": False} if name == "inception_v3" else {}))


@pytest.mark.parametrize("name", SMALL)
def test_small_input_model_rules(name):
    card = get_card(name)
    assert card.small_input and card.input_size == (3, 32, 32)
    check_model(name)


@pytest.mark.parametrize("name", list(SIZES) + SMALL)
def test_stages(name):
    check_stages(name, size=SIZES.get(name))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_a_32x32_variant(family):
    assert any(get_card(n).input_size == (3, 32, 32) for n in list_models(family=family, small_input=True))


# --- parameter counts -------------------------------------------------------------------

# Exact counts of the reference implementations, all for 1000 classes.
REFERENCE_PARAMS = {
    # BVLC GoogLeNet (Caffe model zoo deploy net, no auxiliary heads), as counted by
    # CaffeJS (chaosmail/caffejs README) and by Keras ports: 6,998,552.
    ("googlenet", False): 6_998_552,
    # torchvision's Inception_V3 without its auxiliary head (the brief's figure; the
    # weights' metadata count, which includes the head, is checked below).
    ("inception_v3", False): 23_834_568,
    # Cadene/pretrained-models.pytorch inceptionv4 / inceptionresnetv2 (ports of the TF-slim
    # checkpoints) built for 1000 classes; their 1001-class form has 1536 + 1 more.
    ("inception_v4", None): 42_679_816,
    ("inception_resnet_v2", None): 55_843_464,
    # Table 3 of arXiv 1610.02357; the Keras reference has the same trainable count.
    ("xception", None): 22_855_952,
}


@pytest.mark.parametrize("name, aux", list(REFERENCE_PARAMS))
def test_parameter_count_equals_reference(name, aux):
    kwargs = {} if aux is None else {"aux_logits": aux}
    assert meta_param_count(name, **kwargs) == REFERENCE_PARAMS[name, aux]
    assert get_card(name).paper_params == REFERENCE_PARAMS[name, aux]


def test_googlenet_weights_match_table_1():
    """Table 1 of arXiv 1409.4842 lists weights per layer in units of 1024 (inception 3a:
    159K = 163,328 / 1024); its column sums to 6,797.7K, biases and aux heads left out."""
    table_1 = round(6797.7 * 1024)
    with torch.device("meta"):
        model = create_model("googlenet", aux_logits=False)
    weights = sum(p.numel() for p in model.parameters() if p.dim() > 1)
    assert_close_to_reference(weights, table_1, rel=0.01)


@pytest.mark.parametrize("name, weights_enum", [("googlenet_tv", "GoogLeNet"), ("inception_v3", "Inception_V3")])
def test_parameter_count_equals_torchvision(name, weights_enum):
    """With and without auxiliary heads, counts equal torchvision's own model; the count
    without (googlenet) or with (inception_v3) them is the weights' metadata figure."""
    tv_name = get_card(name).torchvision
    for aux in (True, False):
        with torch.device("meta"):
            reference = torchvision.models.get_model(tv_name, weights=None, aux_logits=aux, init_weights=False)
        assert meta_param_count(name, aux_logits=aux) == sum(p.numel() for p in reference.parameters())
    published = getattr(torchvision.models, f"{weights_enum}_Weights").IMAGENET1K_V1.meta["num_params"]
    assert published == meta_param_count(name, aux_logits=name == "inception_v3")


def test_bn_inception_matches_the_reference_but_for_conv_biases():
    """Cadene's bninception (port of the Caffe reference) has 11,295,240 parameters (also
    osmr/imgclsmob's table); its convs carry a bias before BatchNorm, which ours drop, so
    adding one per conv output channel must give exactly that figure."""
    with torch.device("meta"):
        model = create_model("inception_v2")
    ours = sum(p.numel() for p in model.parameters())
    conv_biases = sum(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))
    assert ours + conv_biases == get_card("inception_v2").paper_params == 11_295_240


# --- torchvision logits -----------------------------------------------------------------

# torchvision builds both nets with aux_logits=True by default; ours match that key for key
# and also without the heads when both sides say so. init_weights=False only skips
# torchvision's truncated-normal init (and its warning): the state dict is the same.
# transform_input=True is what torchvision sets for its pretrained weights.
# (Inception-v3's head needs a 299 input in training, which check_torchvision_logits runs
# to set BatchNorm statistics; its head is compared on its own below.)
LOGITS_CASES = [
    ("googlenet_tv", 64, dict(aux_logits=True, transform_input=False)),
    ("googlenet_tv", 64, dict(aux_logits=False, transform_input=True)),
    ("inception_v3", 75, dict(aux_logits=False, transform_input=False)),
    ("inception_v3", 75, dict(aux_logits=False, transform_input=True)),
]


@pytest.mark.parametrize("name, size, options", LOGITS_CASES)
def test_torchvision_logits(name, size, options):
    check_torchvision_logits(name, size=size, model_kwargs=options, init_weights=False, **options)


def test_inception_v3_aux_head_loads_and_matches_torchvision():
    """torchvision's default Inception3 (with AuxLogits) loads strictly, and the loaded
    auxiliary head gives torchvision's outputs on a 17×17 Mixed_6e map."""
    torch.manual_seed(0)
    reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    ours = create_model("inception_v3")
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 768, 17, 17)
    with torch.no_grad():
        expected = reference.AuxLogits(x)
        torch.testing.assert_close(ours.AuxLogits(x), expected)
    assert expected.std() > 1e-3


def test_inception_v3_aux_head_runs_in_training():
    """In training a 299×299 forward returns (logits, aux) (eval: see check_model)."""
    model = create_model("inception_v3", num_classes=10).train()
    with torch.no_grad():
        logits, aux = model(torch.randn(2, 3, 299, 299))
    assert logits.shape == aux.shape == (2, 10)


# torchvision's default builds warn that their init may change; names and shapes cannot.
@pytest.mark.filterwarnings("ignore:The default weight initialization:FutureWarning")
@pytest.mark.parametrize("name", ["googlenet_tv", "inception_v3"])
def test_torchvision_names_shapes_and_norm_settings(name):
    """Key for key against torchvision's default build (auxiliary heads included), with the
    same BatchNorm eps and momentum, which pretrained logits depend on."""
    check_torchvision_names_and_shapes(name)


def test_auxiliary_heads_only_in_training():
    model = create_model("googlenet_tv").train()
    x = torch.randn(2, 3, 64, 64)
    logits, aux1, aux2 = model(x)
    assert logits.shape == aux1.shape == aux2.shape == (2, 1000)
    model.eval()
    assert isinstance(model(x), torch.Tensor)
    traced = torch.fx.symbolic_trace(model)
    called = {n.target for n in traced.graph.nodes if n.op == "call_module"}
    assert not any(t.startswith(("aux1", "aux2")) for t in called)


# --- receptive fields and cost (analysis on the meta device) --------------------------

# Receptive field and effective stride of the last feature map at 299×299: Araujo, Norris
# and Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019,
# Table 1 (the google-research/receptive_field library's table).
PUBLISHED_RF = {"inception_v3": 1311, "inception_v4": 2071, "inception_resnet_v2": 3039}


@pytest.mark.parametrize("name", list(PUBLISHED_RF))
def test_receptive_field_matches_published(name):
    a = analyze(name, input_size=(3, 299, 299))
    assert a.final_rf == PUBLISHED_RF[name]
    assert a.final_stride == 32


def test_inception_v3_macs():
    """torchvision's Inception_V3 weights metadata gives 5.713 G multiply-adds ("_ops") at
    299×299, the 5.7 G usually quoted."""
    published = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.meta["_ops"] * 1e9
    assert_close_to_reference(analyze("inception_v3", input_size=(3, 299, 299)).macs, round(published), rel=0.05)


def test_googlenet_is_22_layers_deep():
    """Section 5 of arXiv 1409.4842: "22 layers deep when counting only layers with
    parameters" (the auxiliary heads sit off the main path)."""
    assert analyze("googlenet").depth == 22


# --- Inception-ResNet and Xception specifics --------------------------------------------


@pytest.mark.parametrize("name", ["inception_resnet_v1", "inception_resnet_v2"])
def test_inception_resnet_residual_scaling(name):
    """Section 3.3 of arXiv 1602.07261: residuals are scaled by 0.1 to 0.3 before the sum.
    The released v2 adds a final block without ReLU or scaling (TF-slim's block8)."""
    with torch.device("meta"):
        model = create_model(name)
    blocks = [m for m in model.modules() if isinstance(m, InceptionResNetBlock)]
    *scaled, last = blocks
    assert len(blocks) == (20 if name == "inception_resnet_v1" else 40)  # 5+10+5, 10+20+10
    assert all(0.1 <= b.scale <= 0.3 and b.relu is not None for b in scaled)
    if name == "inception_resnet_v2":
        assert last.scale == 1.0 and last.relu is None
    else:
        assert 0.1 <= last.scale <= 0.3 and last.relu is not None


@pytest.mark.parametrize(
    "block",
    [resnet_block_a(320, 48, 64), resnet_block_b(1088, 192, 160), resnet_block_c(2080, 224, 256, 1.0, relu=False)],
    ids=["a", "b", "c_last"],
)
def test_inception_resnet_block_without_branch_is_its_shortcut(block):
    """With the projection zeroed a block reduces to its shortcut: ReLU(x), or x for the
    final block without ReLU; so the branch is the only other contribution to the sum."""
    block.eval()
    x = torch.randn(2, block.up.out_channels, 5, 5)
    shortcut = x.clamp(min=0) if block.relu is not None else x
    with torch.no_grad():
        assert not torch.allclose(block(x), shortcut)
        nn.init.zeros_(block.up.weight)
        nn.init.zeros_(block.up.bias)
        torch.testing.assert_close(block(x), shortcut)


def test_xception_has_36_conv_layers_without_activation_inside_separables():
    """Section 3 of arXiv 1610.02357: 36 convolutional layers form the feature extractor
    (two plain convs, 34 depthwise separable ones), and no nonlinearity separates the
    depthwise from the pointwise half."""
    for name in ("xception", "xception_cifar"):
        with torch.device("meta"):
            model = create_model(name)
        separables = [m for m in model.modules() if isinstance(m, DepthwiseSeparableConv)]
        plain = [m for m in model.modules() if isinstance(m, BasicConv2d)]
        assert (len(plain), len(separables)) == (2, 34)
        for sep in separables:
            kinds = [type(m) for m in sep.modules() if not list(m.children())]
            assert kinds == [nn.Conv2d, nn.Conv2d, nn.BatchNorm2d]
            assert sep.depthwise.groups == sep.depthwise.in_channels


# --- the lineage ------------------------------------------------------------------------


def test_lineage_runs_from_v1_to_inception_resnet():
    names = [step.model for step in INCEPTION_LINEAGE]
    assert names[:4] == ["googlenet", "inception_v2", "inception_v3", "inception_v4"]
    assert all(n.startswith("inception_resnet") for n in names[4:]) and len(names) > 4
    years = [get_card(n).year for n in names]
    assert years == sorted(years)
    assert all(step.change and step.title for step in INCEPTION_LINEAGE)


@pytest.mark.parametrize("step", INCEPTION_LINEAGE, ids=lambda s: s.model)
def test_lineage_blocks_can_be_drawn(step):
    dot = analyze(step.model).graph.subgraph_dot(step.block)
    # A block is several parallel paths: more than one conv inside it.
    assert dot.count("Conv2d") >= 4


def test_weights_layout_options_leave_the_papers_nets_the_default():
    """Builder options that fit trained weights (PyTorch's BN epsilon for Xception,
    FaceNet's Inception-ResNet-v1 for pytorchcv's) change nothing unless asked for; the
    reduction pools and Mixed_4a follow the released reference networks."""
    from classifier.registry import create_meta_model

    def eps(model):
        return {m.eps for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}

    assert eps(create_meta_model("xception")) == {1e-3}
    assert eps(create_meta_model("xception", bn_eps=1e-5)) == {1e-5}
    v1 = create_meta_model("inception_resnet_v1")
    assert len(v1.blocks_c) == 5 and v1.bottleneck is None and isinstance(v1.avgpool, nn.AdaptiveAvgPool2d)
    facenet = create_meta_model("inception_resnet_v1", facenet=True)
    assert len(facenet.blocks_c) == 6 and facenet.blocks_c[5].relu is None and facenet.bottleneck is not None
    mixed_4a = create_meta_model("inception_v4").stem.mixed_4a.branch1
    assert [mixed_4a[i].conv.kernel_size for i in (1, 2)] == [(1, 7), (7, 1)]
    pool = create_model("inception_v2").inception3c.branch_pool
    assert pool(torch.zeros(1, 1, 28, 28)).shape[-1] == 14 and pool(torch.zeros(1, 1, 37, 37)).shape[-1] == 19
