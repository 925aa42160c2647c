"""The real app in headless Chromium: upload a photo on the Inspect page, read the top-5
(ImageNet weights from a pre-filled torch cache) and open the deconvnet grid."""

import pytest
import torch
from app_server import browser_page, click_tab, running_app
from imagenet_cache import prefilled, torch_home

from classifier.images import decode_image, sample_images
from imagenet_cache import torchvision_weights as imagenet_weights

pytestmark = pytest.mark.browser


def test_upload_predict_and_deconvnet(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home()))
    reference = prefilled("resnet18")  # the page's default model
    photo = tmp_path / "photo.png"
    photo.write_bytes(sample_images()["honeycomb"].read_bytes())
    weights = imagenet_weights("resnet18")
    with torch.no_grad():
        top1 = int(reference(weights.transforms()(decode_image(photo))[None]).argmax())
    expected = f"{weights.meta['categories'][top1]} ({top1})"

    with running_app(env={"TORCH_HOME": str(torch_home())}) as url, browser_page(url) as page:
        page.get_by_role("heading", name="Architectures").wait_for(timeout=60_000)
        page.get_by_role("link", name="Inspect").click()
        page.get_by_role("heading", name="Inspect").wait_for(timeout=60_000)
        page.get_by_text("Upload", exact=True).click()
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_text("Top-5 predictions").wait_for(timeout=120_000)
        page.get_by_text(expected).first.wait_for(timeout=60_000)  # the chart's top bar label
        click_tab(page, "Deconvnet")
        page.get_by_text("the projection (grey = 0)").wait_for(timeout=180_000)
        grid = page.locator("[data-testid=stImage] img").nth(1)
        grid.wait_for(timeout=30_000)
        box = grid.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 80
        page.get_by_role("button", name="Projections (PNG)").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "inspect.png"), full_page=True)

