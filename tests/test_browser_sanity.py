"""The real app in headless Chromium: open Inspect's Sanity checks tab for LeNet-5 (random
weights, 32×32: cheap), run the cascading model randomisation and see its chart drawn."""

import pytest
from app_server import browser_page, click_tab, running_app

pytestmark = pytest.mark.browser


def test_cascading_randomisation_chart_opens(tmp_path):
    with running_app() as url, browser_page(url) as page:
        page.goto(f"{url}/inspect?inspect_model=lenet5")
        page.get_by_role("heading", name="Inspect").wait_for(timeout=60_000)
        page.get_by_text("Top-5 predictions").wait_for(timeout=120_000)
        click_tab(page, "Sanity checks")
        page.get_by_role("button", name="Run: model randomisation").click()
        chart = page.locator("[data-testid=stPlotlyChart]").nth(1)  # after the top-5 chart
        chart.get_by_text("Cascading model randomisation").wait_for(timeout=120_000)
        assert chart.get_by_text("Saliency (gradient)").count() and chart.get_by_text("Guided backprop").count()
        page.get_by_role("button", name="Correlations (CSV)").wait_for(timeout=30_000)
        box = chart.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 300
        page.screenshot(path=str(tmp_path / "sanity.png"), full_page=True)
