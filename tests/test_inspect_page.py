"""AppTest of the Inspect page through app.py's navigation: every tab for a CNN and for a
ViT, ImageNet predictions through a pre-filled cache, bad uploads, checkpoints."""

import io
import json
import os

import pytest
import torch
from imagenet_cache import prefilled, torch_home
from streamlit.testing.v1 import AppTest
from tests_paths import ROOT

from classifier import create_model
from classifier.explain import figures
from classifier.images import decode_image, sample_images
from imagenet_cache import torchvision_weights as imagenet_weights

CNN_TABS = ["Activations", "Deconvnet", "Attributions", "Occlusion", "Effective receptive field"]


def open_inspect(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/inspect.py")
    at.run()
    assert not at.exception, at.exception
    return at


def show_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["inspect_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def captions(at: AppTest) -> list[str]:
    """Image captions and the page's caption lines."""
    return [c for image in at.image for c in image.captions] + [c.value for c in at.caption]


def downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


@pytest.mark.parametrize(
    "name, tabs",
    [
        ("resnet20_cifar", CNN_TABS),
        ("vit_lite_7_4_cifar", [*CNN_TABS, "Attention"]),
    ],
)
def test_every_tab_renders(name, tabs):
    at = open_inspect(inspect_model=name)
    assert "Untrained weights" in at.warning[0].value  # no ImageNet weights for these: random first
    assert at.get("plotly_chart"), "the top-5 chart is missing"
    assert any("What the network sees (32×32)" in c for c in captions(at))
    expected = {
        "Activations": ("strongest of", "Feature maps"),
        "Deconvnet": ("the projection (grey = 0)", "Projections"),
        "Attributions": ("of class", "Saliency (gradient)"),
        "Occlusion": ("as the occluder moves", "Occlusion map"),
        "Effective receptive field": ("gradient square-root scaled", "Effective receptive field"),
        "Attention": (figures.READINGS["attention"], "Attention rollout"),
    }
    for tab in tabs:
        show_tab(at, tab)
        caption, download = expected[tab]
        assert any(caption in c for c in captions(at)), (tab, captions(at))
        assert any(download in label for label in downloads(at)), (tab, downloads(at))
        others = [d for t, (_, d) in expected.items() if t != tab and d != download]
        assert not [d for d in others if any(d in label for label in downloads(at))], "hidden tabs must not compute"


def test_attribution_methods_and_layer_choice():
    at = show_tab(open_inspect(inspect_model="resnet20_cifar"), "Attributions")
    for method in ["saliency", "guided", "guided_gradcam", "gradcam", "ig"]:
        at.selectbox(key="attr_method").set_value(method).run()
        assert not at.exception and not at.error
        assert any("of class" in c for c in captions(at))
        # every map has a reading; strength maps also a colour scale from 0 to their largest value
        assert figures.READINGS[method] in captions(at)
        scale = [c for c in captions(at) if c.startswith("0 ← → ")]
        assert bool(scale) == (method not in figures.PATTERN_METHODS), (method, scale)
    at.slider(key="attr_opacity_ig").set_value(0.2).run()
    assert not at.exception


def test_uploaded_photo_gets_torchvisions_imagenet_top5(monkeypatch):
    """The default model with ImageNet weights, read from a pre-filled torch cache: the
    chart shows exactly the top five of torchvision's model holding those weights."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home()))
    reference = prefilled("resnet18")
    photo = sample_images()["ball on grass"].read_bytes()
    at = open_inspect(inspect_model="resnet18", inspect_image_source="Upload")
    at.file_uploader(key="inspect_upload").set_value(("photo.png", photo, "image/png")).run()
    assert not at.exception and not at.warning
    weights = imagenet_weights("resnet18")
    assert any(f"resnet18.{weights.name}" in c.value for c in at.caption)
    with torch.no_grad():
        probs = reference(weights.transforms()(decode_image(photo))[None]).softmax(1)[0]
    expected = [f"{weights.meta['categories'][i]} ({i})" for i in probs.topk(5).indices.tolist()]
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["y"][::-1] == expected


def png_of_size(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_an_upload_says_what_it_was():
    at = open_inspect(inspect_model="resnet20_cifar", inspect_image_source="Upload")
    at.file_uploader(key="inspect_upload").set_value(("photo.png", png_of_size(40, 24), "image/png")).run()
    assert not at.exception and any(c.value.startswith("Uploaded: 40×24 pixels") for c in at.caption)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty"),
        (b"%PDF-1.4 not a picture", "not a JPEG, PNG, WebP, BMP, GIF or TIFF image"),
        (lambda: sample_images()["checkerboard"].read_bytes()[:200], "truncated or corrupt"),
        (lambda: png_of_size(1, 1), "The image is only 1×1 pixels; at least 8×8 is needed"),
    ],
)
def test_bad_upload_is_one_sentence(data, message):
    at = open_inspect(inspect_model="resnet20_cifar", inspect_image_source="Upload")
    payload = data() if callable(data) else data
    at.file_uploader(key="inspect_upload").set_value(("upload.png", payload, "image/png")).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value and "Traceback" not in at.error[0].value


def test_training_run_checkpoint_is_offered(tmp_path):
    from classifier.train.checkpoint import save_checkpoint

    path = tmp_path / "run-7" / "best.pt"
    path.parent.mkdir()
    model = create_model("resnet20_cifar", num_classes=2)
    save_checkpoint(
        path,
        {
            "model": "resnet20_cifar",
            "class_names": ["circle", "square"],
            "input_size": [3, 32, 32],
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
            "epoch": 4,
            "model_state": model.state_dict(),
        },
    )
    at = open_inspect(inspect_checkpoint=str(path))
    assert at.selectbox(key="inspect_model").value == "resnet20_cifar"
    weights = at.selectbox(key="inspect_weights_resnet20_cifar")
    assert weights.value == "run" and "Training run (run-7)" in weights.options
    assert not at.warning and any("epoch 4" in c.value for c in at.caption)
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert {y.rsplit(" (", 1)[0] for y in bars["y"]} == {"circle", "square"}


def test_hostile_checkpoint_upload_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    buf = io.BytesIO()
    torch.save({"model_state": {}, "x": RunsCode()}, buf)
    at = open_inspect(inspect_model="resnet20_cifar", inspect_weights_resnet20_cifar="upload")
    at.file_uploader(key="inspect_ckpt_upload").set_value(("evil.pt", buf.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert "refused" in at.error[0].value
    assert not marker.exists()



def test_a_cancelled_occlusion_waits_for_run_again():
    """Cancel reruns the page with the job marked cancelled: the page says so and does
    not start the job again until "Run again" is pressed."""
    at = show_tab(open_inspect(inspect_model="resnet20_cifar", job_cancelled_occlusion=True), "Occlusion")
    assert "Occlusion: cancelled." in [i.value for i in at.info]
    assert not any("Occlusion map" in label for label in downloads(at))
    at.button(key="job_again_occlusion").click().run()
    assert not at.exception, at.exception
    assert any("Occlusion map" in label for label in downloads(at))
    assert at.session_state["job_cancelled_occlusion"] is False
    assert "Cancel" not in [b.label for b in at.button], "the job's Cancel button must go when the job ends"


def test_a_fully_connected_net_shows_predictions_and_says_why_no_maps():
    at = open_inspect(inspect_model="highway_fc10")
    assert at.get("plotly_chart"), "the top-5 chart is missing"
    assert "has no spatial feature maps" in at.info[0].value
