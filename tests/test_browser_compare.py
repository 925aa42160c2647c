"""The real app in headless Chromium: open the Compare page, choose two models with the
selectboxes and find both columns, their feature maps and the agreement table, and
download the comparison as one PNG."""

import pytest
from PIL import Image

from app_server import browser_page, running_app

pytestmark = pytest.mark.browser


def choose(page, label: str, name: str) -> None:
    """Pick ``name`` in the selectbox labelled ``label`` by typing it, as a user would."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name, exact=True).click()


def test_choose_two_models_and_see_both_columns(tmp_path):
    # an empty torch cache: the page offers ImageNet weights but starts with random ones
    env = {"TORCH_HOME": str(tmp_path / "torch"), "CLASSIFIER_RUNS_DIR": str(tmp_path / "runs")}
    with running_app(env=env) as url, browser_page(url, height=2400) as page:
        page.get_by_role("heading", name="Architectures").wait_for(timeout=60_000)
        page.get_by_role("link", name="Compare").click()
        page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
        choose(page, "Model 1", "resnet20_cifar")
        choose(page, "Model 2", "vit_lite_7_4_cifar")
        page.get_by_role("heading", name="1. resnet20_cifar (Random)").wait_for(timeout=180_000)
        page.get_by_role("heading", name="2. vit_lite_7_4_cifar (Random)").wait_for(timeout=180_000)
        columns = page.locator("[data-testid=stColumn]").filter(has=page.get_by_role("heading", name="(Random)"))
        assert columns.count() == 2
        page.get_by_text("encoder.ln: 256 channels").wait_for(timeout=60_000)
        button = page.get_by_role("button", name="Comparison (PNG)")
        button.wait_for(timeout=120_000)
        table = page.locator("[data-testid=stTable]")
        assert "resnet20_cifar (Random) / 2. vit_lite_7_4_cifar (Random)" in table.inner_text()
        with page.expect_download(timeout=120_000) as download:
            button.click()
        png = Image.open(download.value.path())
        assert png.format == "PNG" and png.width > 600 and png.height > 1000  # two columns, every row
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
