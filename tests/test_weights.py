"""classifier.weights: ImageNet weights through a pre-filled torch cache, training-run and
uploaded checkpoints (tensors only), random initialisation."""

import io
import os
import pickle

import pytest
import torch
import torchvision
from imagenet_cache import prefilled, torch_home
from imagenet_cache import torchvision_weights as imagenet_weights

from classifier import create_model, get_card, list_models
from classifier.images import decode_image, sample_images
from classifier.weights import Preprocess, WeightsError, load_weights, read_checkpoint, weight_entries
from classifier.weights.loading import imagenet_entry


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home()))
    return torch_home()


def test_every_torchvision_card_has_imagenet_weights():
    named = [n for n in list_models() if get_card(n).torchvision]
    assert len(named) >= 10
    missing = [n for n in named if not any(e.source == "torchvision" for e in weight_entries(n))]
    assert not missing, f"cards name a torchvision model without ImageNet weights: {missing}"


# Small nets of different families, plus GoogLeNet, whose ImageNet weights need
# transform_input=True exactly as torchvision's builder sets it.
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "squeezenet1_1", "googlenet_tv"])
def test_imagenet_weights_from_the_cache_match_torchvision(name, cache):
    prefilled(name)
    loaded = load_weights(name, "imagenet")
    weights = imagenet_weights(name)
    # torchvision's own builder, reading the same cached file, is the reference
    reference = torchvision.models.get_model(get_card(name).torchvision, weights=weights).eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), reference(x), atol=1e-5, rtol=1e-5)
    assert loaded.pretrained and loaded.source == imagenet_entry(name).id and not loaded.model.training
    assert loaded.class_names == weights.meta["categories"] and len(loaded.class_names) == 1000
    image = decode_image(next(iter(sample_images().values())))
    torch.testing.assert_close(loaded.preprocess(image)[0], weights.transforms()(image), atol=1e-6, rtol=0)
    assert f"{weights.name}" in loaded.description and "torchvision" in loaded.description


def test_legacy_densenet_keys_load(cache):
    """Old torchvision DenseNet files say 'norm.1' where the module says 'norm1', and
    predate BatchNorm's num_batches_tracked."""
    reference = prefilled("densenet121")
    legacy = {
        k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v
        for k, v in reference.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert legacy.keys() != reference.state_dict().keys()
    path = torch_home() / "legacy.pth"
    torch.save(legacy, path)
    loaded = load_weights("densenet121", path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), reference(x), atol=1e-5, rtol=1e-5)


def file_entry(url, checksum=None, model="resnet20_cifar", **extra):
    """An entry whose file is served from this machine (a file:// URL): the real
    download code runs, no network is needed."""
    from classifier.weights.entries import WeightEntry

    return WeightEntry(
        model=model, source="test", source_model=model, tag="local", dataset="CIFAR-10", num_classes=10,
        preprocess=Preprocess.for_input((3, 32, 32)), url=url, checksum=checksum, **extra,
    )


def test_download_reports_progress_and_checks_the_hash(tmp_path, monkeypatch):
    import hashlib

    from classifier.weights import download

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    payload = os.urandom(3 * (1 << 20) + 123)
    src = tmp_path / f"net-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    src.write_bytes(payload)
    seen = []
    path = download(file_entry(src.as_uri(), "sha256:" + hashlib.sha256(payload).hexdigest()[:8]),
                    lambda label, done, total: seen.append((label, done)))
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / src.name and path.read_bytes() == payload
    assert {label for label, _ in seen} == {src.name}
    done = [d for _, d in seen]
    assert done[-1] == len(payload) and done == sorted(done) and len(done) >= 4
    path.unlink()
    with pytest.raises(WeightsError, match=r"SHA256 does not match.*put the file net-.*\.pth in .*checkpoints"):
        download(file_entry(src.as_uri(), "sha256:00000000"))
    assert list(path.parent.iterdir()) == [], "no partial or bad file is left in the cache"


def test_pytorchcv_zip_is_unpacked_and_checked(tmp_path, monkeypatch):
    """pytorchcv publishes <name>.pth.zip with the SHA-1 of the .pth inside."""
    import hashlib
    import zipfile

    from classifier.weights import download

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = create_model("resnet20_cifar")
    raw = io.BytesIO()
    torch.save(model.state_dict(), raw)
    archive = tmp_path / "resnet20_cifar10-0597-9b0024ac.pth.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("resnet20_cifar10-0597-9b0024ac.pth", raw.getvalue())
    good = file_entry(archive.as_uri(), "sha1:" + hashlib.sha1(raw.getvalue()).hexdigest())
    path = download(good)
    assert path.name == "resnet20_cifar10-0597-9b0024ac.pth" and path.read_bytes() == raw.getvalue()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name], "the zip is removed after unpacking"
    path.unlink()
    archive.write_bytes(archive.read_bytes()[:500])  # a truncated download
    with pytest.raises(WeightsError, match="not a readable zip file"):
        download(good)
    assert list(path.parent.iterdir()) == []


def test_corrupt_cached_file_is_refused_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    entry = file_entry("https://example.invalid/weights/net-1234abcd.pth")
    from classifier.weights.files import url_path
    from classifier.weights.loading import load_entry

    cached = url_path(entry)
    cached.parent.mkdir(parents=True)
    buf = io.BytesIO()
    torch.save(create_model("resnet20_cifar").state_dict(), buf)
    cached.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # truncated
    with pytest.raises(WeightsError, match=r"not a readable PyTorch checkpoint \(PytorchStreamReader failed reading zip archive: failed finding central directory\); it was removed from .*checkpoints"):
        load_entry(entry)
    assert not cached.exists()


def test_missing_weights_offline_name_the_file_and_folder(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(WeightsError, match=r"network is unreachable.*put the file resnet34-\w+\.pth in .*checkpoints"):
        load_weights("resnet34", "imagenet")
    hub = next((e for e in __import__("classifier.weights", fromlist=["all_entries"]).all_entries() if e.hf_repo), None)
    if hub is not None:  # an entry kept on the Hugging Face hub
        with pytest.raises(WeightsError, match=r"offline.*put the file .* in .*hf.*models--"):
            load_weights(hub.model, hub.id)
    with pytest.raises(WeightsError, match="no ImageNet weights"):
        load_weights("resnet20_cifar", "imagenet")
    with pytest.raises(WeightsError, match="unknown weights"):
        load_weights("resnet34", "timm/resnet34.nonexistent")


def run_checkpoint(path, model_name="resnet20_cifar", classes=("cat", "dog", "frog")):
    """A checkpoint as classifier.train writes it."""
    from classifier.train.checkpoint import save_checkpoint

    torch.manual_seed(1)
    model = create_model(model_name, num_classes=len(classes))
    save_checkpoint(
        path,
        {
            "model": model_name,
            "class_names": list(classes),
            "input_size": [3, 32, 32],
            "mean": [0.49, 0.48, 0.45],
            "std": [0.25, 0.24, 0.26],
            "dataset": "toy",
            "epoch": 3,
            "best_top1": 0.625,
            "model_state": model.state_dict(),
            "optimizer_state": {"state": {}, "param_groups": []},
        },
    )
    return model.eval()


def test_training_run_checkpoint(tmp_path):
    trained = run_checkpoint(tmp_path / "best.pt")
    loaded = load_weights(None, tmp_path / "best.pt")  # the checkpoint names its model
    assert loaded.name == "resnet20_cifar" and loaded.class_names == ["cat", "dog", "frog"]
    assert loaded.preprocess.mean == (0.49, 0.48, 0.45) and loaded.preprocess.crop_size == (32, 32)
    assert "epoch 3" in loaded.description and "toy" in loaded.description
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), trained(x))
    with pytest.raises(WeightsError, match="is for resnet20_cifar, not resnet32_cifar"):
        load_weights("resnet32_cifar", tmp_path / "best.pt")


def test_uploaded_state_dict_with_wrapper_prefix_and_inferred_classes():
    torch.manual_seed(2)
    model = create_model("resnet20_cifar", num_classes=100)
    buf = io.BytesIO()
    torch.save({f"module.{k}": v.half() for k, v in model.state_dict().items()}, buf)  # DDP-saved, fp16
    loaded = load_weights("resnet20_cifar", buf.getvalue())
    assert len(loaded.class_names) == 100 and loaded.pretrained
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model.half().float()(x), atol=1e-4, rtol=1e-4)


def test_mismatched_checkpoint_lists_the_keys():
    state = create_model("resnet20_cifar").state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    state["conv1.weight"] = torch.zeros(16, 3, 5, 5)
    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(WeightsError) as err:
        load_weights("resnet20_cifar", buf.getvalue())
    text = str(err.value)
    assert "missing keys: fc.bias" in text and "unexpected keys: extra.weight" in text
    assert "conv1.weight (16, 3, 5, 5) in the file vs (16, 3, 3, 3) in the model" in text


class RunsCode:
    """Unpickling this calls os.system: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("wrap", ["torch.save", "raw pickle"])
def test_pickle_that_runs_code_is_refused(tmp_path, wrap):
    marker = tmp_path / "pwned"
    if wrap == "torch.save":
        buf = io.BytesIO()
        torch.save({"model_state": {"w": torch.zeros(1)}, "hook": RunsCode(marker)}, buf)
        data = buf.getvalue()
    else:
        data = pickle.dumps(RunsCode(marker), protocol=2)
    with pytest.raises(WeightsError, match="refused") as err:
        load_weights("resnet20_cifar", data)
    assert "os.system" in str(err.value) or "posix.system" in str(err.value)
    assert not marker.exists(), "the pickle's code ran"
    (tmp_path / "evil.pt").write_bytes(data)
    with pytest.raises(WeightsError, match="refused"):
        read_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"a text file someone named model.pt\n" * 3, r"^The uploaded checkpoint is not a PyTorch checkpoint\.$"),
        ("tensor", "holds a Tensor, not a state dict"),
        ("no state", "has no state dict"),
    ],
)
def test_other_bad_checkpoints(data, message):
    if data == "tensor":
        buf = io.BytesIO()
        torch.save(torch.zeros(3), buf)
        data = buf.getvalue()
    elif data == "no state":
        buf = io.BytesIO()
        torch.save({"epoch": 3}, buf)
        data = buf.getvalue()
    with pytest.raises(WeightsError, match=message) as err:
        load_weights("resnet20_cifar", data)
    assert "weights_only" not in str(err.value), "torch's advice to load unsafely is never relayed"


def test_random_weights_are_repeatable_and_say_so():
    a, b = load_weights("resnet20_cifar", "random"), load_weights("resnet20_cifar", "random")
    assert not a.pretrained and "untrained" in a.description
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    assert a.preprocess.crop_size == (32, 32) and a.preprocess.resize_size == 32
    assert load_weights("alexnet_cifar", "random").class_names[0] == "class 0"


def test_preprocess_for_a_grey_small_net():
    card = get_card("lenet5")
    pre = Preprocess.for_input(card.input_size)
    x = pre(decode_image(next(iter(sample_images().values()))))
    assert x.shape == (1, *card.input_size)
    assert pre.channels == card.input_size[0]


def test_every_card_says_what_weights_it_has():
    from classifier.weights import weights_summary

    for name in list_models():
        line = weights_summary(name)
        entries = weight_entries(name)
        if entries:
            assert line.startswith(f"Trained weights: {entries[0].label}"), name
        else:
            assert line.startswith("No public trained weights: ") and "Train page" in line, name
    assert "Dropbox" in weights_summary("msdnet_cifar") and "TF-Hub" in weights_summary("amoebanet_a_cifar")


def test_label_offset_drops_the_background_class(tmp_path, monkeypatch):
    """TF ports with 1001 outputs put a background class first: dropping its row makes
    output i class i, so the class names are right."""
    from classifier.weights.files import url_path
    from classifier.weights.loading import load_entry

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    entry = file_entry("https://example.invalid/tf-port-0123abcd.pth", label_offset=1)
    torch.manual_seed(3)
    with_background = create_model("resnet20_cifar", num_classes=11)
    path = url_path(entry)
    path.parent.mkdir(parents=True)
    torch.save(with_background.state_dict(), path)
    loaded = load_entry(entry)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), with_background(x)[:, 1:])
    assert loaded.class_names[0] == "airplane" and len(loaded.class_names) == 10
