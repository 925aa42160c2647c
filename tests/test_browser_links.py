"""Address links with bare model names, in a real browser: opening ?inspect_model=NAME or
?compare_model_1=NAME selects that model and keeps the bare name in the address; the
favicon is served by the app itself (offline machines reach no font host)."""

import re

import pytest
from app_server import browser_page, running_app

pytestmark = pytest.mark.browser


def test_model_links_work_both_ways(tmp_path):
    with running_app(env={"TORCH_HOME": str(tmp_path / "torch")}) as url, browser_page(url) as page:
        page.goto(f"{url}/inspect?inspect_model=vit_ti_16")
        page.get_by_role("heading", name="Inspect").wait_for(timeout=60_000)
        page.get_by_text("Top-5 predictions").wait_for(timeout=180_000)
        page.get_by_text("Ti/16, 2020").wait_for(timeout=30_000)
        assert "inspect_model=vit_ti_16" in page.url
        icon = page.eval_on_selector("link[rel~='icon']", "e => e.href")
        assert icon.startswith(url), f"the favicon must come from the app itself, not {icon}"
        assert page.request.get(icon).ok
        page.screenshot(path=str(tmp_path / "inspect-link.png"), full_page=True)

        page.goto(f"{url}/compare?compare_model_1=lenet5")
        page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
        page.get_by_text("2. lenet5 (Random)").wait_for(timeout=240_000)
        assert re.search(r"compare_model_1=lenet5(&|$)", page.url)
