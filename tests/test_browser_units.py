"""The real app in headless Chromium: open the Units page, search the bundled digits with
a small net and see a channel's grid of dataset examples."""

import pytest
from app_server import browser_page, running_app

pytestmark = pytest.mark.browser

# resnet20_cifar on 40 digits: a search of well under a second, so the test measures the
# page, not the net.
MODEL, LIMIT = "resnet20_cifar", 40


def test_units_page_shows_a_grid_of_dataset_examples(tmp_path):
    env = {"CLASSIFIER_UNITS_DIR": str(tmp_path / "units"), "CLASSIFIER_DATA_DIR": str(tmp_path / "data"),
           "CLASSIFIER_RUNS_DIR": str(tmp_path / "runs"), "TORCH_HOME": str(tmp_path / "torch"),
           "HF_HUB_CACHE": str(tmp_path / "hf")}
    with running_app(env=env) as url, browser_page(f"{url}/units?units_model={MODEL}") as page:
        page.get_by_role("heading", name="Units").wait_for(timeout=60_000)
        page.get_by_text("The bundled digits (test split, offline)").click()
        limit = page.get_by_role("spinbutton", name="At most")
        limit.fill(str(LIMIT))
        limit.press("Enter")
        page.get_by_text(f"{LIMIT} drawn at random").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Find dataset examples").click()
        page.get_by_text("images searched").wait_for(timeout=120_000)
        grid = page.locator("[data-testid=stImage] img").first
        grid.wait_for(timeout=60_000)
        box = grid.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100  # two 3×3 blocks side by side
        page.get_by_role("button", name="Channel").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "units.png"), full_page=True)
