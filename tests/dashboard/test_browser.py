"""A real browser (Playwright + Debian Chromium) logs in, walks every page and saves screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.dashboard.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    login,
    screenshot,
    streamlit_server,
    wait_rendered,
)
from tests.dashboard.conftest import LiveApi

OUT = Path(__file__).parents[2] / "out" / "screenshots"
# (url path, link in the sidebar, the page's heading, whether it draws a plotly chart)
PAGES = [
    ("status", "Global status", "Global status", True),
    ("slos", "SLOs", "Service level objectives", False),
    ("qoe", "QoE", "Quality of experience", False),
    ("incidents", "Alerts & incidents", "Alerts & incidents", False),
    ("faults", "Fault lab", "Fault lab", False),
    ("costs", "Costs", "Costs", False),
    ("executive", "Executive", "Executive summary", False),
    ("capacity", "Capacity planner", "Capacity planner", False),
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists(), reason="Debian chromium not installed"
    ),
]


def test_walk_every_page_and_dry_run_a_failover(live_api_with_platform: LiveApi, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    from streamverse.client import ControlClient

    live_api = live_api_with_platform
    OUT.mkdir(parents=True, exist_ok=True)
    admin = ControlClient(live_api.url, live_api.tokens["admin"])
    # An incident to act on, opened through the API as an alert would open it.
    admin.create_incident(title="Tokyo PoP 7 down", severity="sev2")
    with (
        streamlit_server(
            live_api.url,
            free_port(),
            data_dir=str(live_api.settings.data_dir),
            log=tmp_path / "streamlit.log",
        ) as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_label("API token").wait_for(timeout=30_000)
        page.screenshot(path=str(OUT / "00-login.png"))
        login(page, url, live_api.tokens["admin"])
        for i, (path, link, heading, charts) in enumerate(PAGES, start=1):
            page.get_by_role("link", name=link).first.click()
            page.get_by_role("heading", name=heading, level=1).wait_for(timeout=30_000)
            wait_rendered(page, charts=charts)
            body = page.inner_text("body")
            assert "Traceback" not in body and "failed unexpectedly" not in body, body[:2000]
            page.wait_for_timeout(700)  # data grids paint on a canvas after the script finishes
            screenshot(page, str(OUT / f"{i:02d}-{path}.png"))
        page.get_by_role("link", name="Alerts & incidents").first.click()
        page.get_by_role("heading", name="Alerts & incidents", level=1).wait_for(timeout=30_000)
        wait_rendered(page, charts=False)
        page.get_by_label("Target").fill("ap-northeast")
        page.get_by_role("button", name="Dry run").click()
        # The plan comes from the running platform: exact changes, nothing applied yet.
        page.get_by_text("Dry-run plan").wait_for(timeout=30_000)
        assert "Dry run refused" not in page.inner_text("body")
        screenshot(page, str(OUT / "20-dry-run.png"))
        page.get_by_text("I have read the plan and want to run it").click()
        page.get_by_role("button", name="Run it").click()
        # The run's status shows live: requested, awaiting a second person's approval, running, ...
        page.get_by_text("Run #").first.wait_for(timeout=30_000)
        page.wait_for_timeout(700)
        screenshot(page, str(OUT / "21-run-status.png"))
        body = page.inner_text("body")
        assert "Traceback" not in body and "Not started" not in body, body[:2000]
        browser.close()
