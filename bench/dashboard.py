"""Dashboard first render per page in a real browser, over 30 days of backfilled history.

Backfills a temp data dir (`streamverse simulate --backfill 30d`, 2d with --quick), serves
the control API with uvicorn and the dashboard with `streamlit run` on free ports, logs in
in Debian's Chromium and times each page from its sidebar click until the server reports
the page's script run finished (read from Streamlit's websocket), its heading is shown and
every chart on it is drawn. Median of several loads.
Baseline, same run: the bare Streamlit login page (no API reads) to first paint.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamverse.api import service  # noqa: E402
from streamverse.settings import Settings  # noqa: E402
from streamverse.system.app import create_app  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.dashboard.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ScriptRuns,
    login,
    streamlit_server,
    wait_rendered,
)
from tests.dashboard.test_browser import PAGES  # noqa: E402


def main() -> None:
    """Print one JSON object: pages (name -> median seconds), max_render_s, login_page_s baseline."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, help="reuse this data dir (backfilled when empty)")
    args = ap.parse_args()
    loads = 2 if args.quick else args.loads
    tmp = Path(tempfile.mkdtemp(prefix="sv-bench-dash-"))
    data = args.data_dir or tmp / "data"
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(data)}
    t0 = time.perf_counter()
    if not (data / "metrics.db").exists():
        subprocess.run(
            [str(ROOT / ".venv/bin/streamverse"), "simulate", "--backfill", "2d" if args.quick else "30d"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    backfill_s = time.perf_counter() - t0
    settings = Settings(data_dir=data)
    app = create_app(settings)
    with Session(app.state.engine) as s:
        token = service.create_token(session=s, role="admin", name="bench")[1]
        s.commit()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    api = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(api + "/api/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {p[0]: [] for p in PAGES}
    login_times: list[float] = []
    with (
        streamlit_server(api, free_port(), data_dir=str(data), log=tmp / "streamlit.log") as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # One browser profile, as a returning user has: the first round (dropped) fills its HTTP
        # cache with Streamlit's and plotly's JS bundles and warms the server's imports.
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        for _ in range(loads + 1):
            page = context.new_page()
            runs = ScriptRuns(page)
            t = time.perf_counter()
            page.goto(url)
            page.get_by_label("API token").wait_for(timeout=60_000)
            login_times.append(time.perf_counter() - t)
            login(page, url, token)
            wait_rendered(page, charts=False, timeout_ms=60_000)  # the landing page settles first
            for path, link, heading, charts in PAGES:
                seen = runs.finished
                t = time.perf_counter()
                page.get_by_role("link", name=link).first.click()
                # The page's whole script has run (server side), its heading is up, every chart drawn.
                runs.wait_after(page, seen, timeout_ms=60_000)
                page.get_by_role("heading", name=heading, level=1).wait_for(timeout=60_000)
                wait_rendered(page, charts=charts, timeout_ms=60_000)
                times[path].append(time.perf_counter() - t)
            page.close()
        browser.close()
    server.should_exit = True
    pages = {k: round(statistics.median(v[1:]), 3) for k, v in times.items()}
    cold = {k: round(v[0], 3) for k, v in times.items()}
    print(
        json.dumps(
            {
                "pages": pages,
                "max_render_s": max(pages.values()),
                "login_page_s": round(statistics.median(login_times[1:]), 3),
                "history": "2d" if args.quick else "30d",
                "backfill_s": round(backfill_s, 1),
                "loads": loads,
                "target_s": 1.5,
                "cold_first_round_pages": cold,
                "loads_s": {k: [round(x, 3) for x in v[1:]] for k, v in times.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
