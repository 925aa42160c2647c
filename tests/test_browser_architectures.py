"""The real app in headless Chromium: pick an architecture, see its graph and table."""

import pytest

from app_server import browser_page, click_tab, running_app

pytestmark = pytest.mark.browser


def test_pick_architecture_shows_graph_and_table(tmp_path):
    with running_app() as url, browser_page(url) as page:
        page.get_by_role("heading", name="Architectures").wait_for(timeout=60_000)
        # Streamlit selectboxes are comboboxes: open, type, choose.
        variant = page.get_by_role("combobox", name="Family")
        variant.click()
        page.get_by_role("option", name="VGG (2014)").click()
        page.get_by_role("heading", name="VGG-11").wait_for(timeout=60_000)
        page.get_by_role("combobox", name="Variant").click()
        page.get_by_role("option", name="vgg16", exact=False).first.click()
        page.get_by_role("heading", name="VGG-16").first.wait_for(timeout=60_000)
        page.get_by_text("212 px", exact=True).wait_for(timeout=120_000)  # the analysis, on a busy machine
        page.get_by_text("stride 32", exact=True).wait_for(timeout=30_000)
        click_tab(page, "Layer graph")
        page.locator("svg .node").first.wait_for(timeout=30_000)
        click_tab(page, "Layer table")
        page.locator("[data-testid='stDataFrame']").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "architectures.png"), full_page=True)
