"""Run the dashboard in Streamlit; drive it with Playwright on Debian's Chromium (no `playwright install`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

APP = Path(__file__).parents[2] / "streamverse" / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def streamlit_server(api_url: str, port: int, *, data_dir: str, log: Path) -> Iterator[str]:
    """`streamlit run` headless on `port`; yields its URL once it answers."""
    env = {**os.environ, "STREAMVERSE_API_URL": api_url, "STREAMVERSE_DATA_DIR": data_dir}
    env.pop("STREAMVERSE_TOKEN", None)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(APP),
                "--server.headless=true",
                f"--server.port={port}",
                "--server.address=127.0.0.1",
                "--browser.gatherUsageStats=false",
                "--server.fileWatcherType=none",
                "--client.showErrorDetails=none",
                "--client.toolbarMode=minimal",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(page: object, url: str, token: str) -> None:
    """Open the dashboard and log in with a token."""
    page.goto(url)  # type: ignore[attr-defined]
    box = page.get_by_label("API token")  # type: ignore[attr-defined]
    box.wait_for(timeout=30_000)
    box.fill(token)
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    page.get_by_text("Log out").wait_for(timeout=30_000)  # type: ignore[attr-defined]


class ScriptRuns:
    """Full script runs the Streamlit server reports finished to this page (fragment reruns excluded).

    Read from the app's websocket (Streamlit's ForwardMsg.script_finished), because the
    page's own "running" icon only shows after 500 ms and so cannot tell a 0.4 s run from
    a 1.4 s one.
    """

    def __init__(self, page: object) -> None:
        self.finished = 0
        page.on("websocket", self._attach)  # type: ignore[attr-defined]

    def _attach(self, ws: object) -> None:
        ws.on("framereceived", self._frame)  # type: ignore[attr-defined]

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg.FromString(payload)
        done = msg.WhichOneof("type") == "script_finished"
        if done and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            self.finished += 1

    def wait_after(self, page: object, seen: int, *, timeout_ms: int = 30_000) -> None:
        """Until a full run finishes after the `seen` ones counted before an action."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self.finished <= seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Streamlit script run finished within {timeout_ms} ms")
            page.wait_for_timeout(5)  # type: ignore[attr-defined]


# Every chart the page holds is drawn: plotly's SVG, Vega's canvas/SVG; no element left stale.
_DRAWN = """() => {
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (!plots.every(e => e.querySelector('.main-svg'))) return false;
  const vega = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return vega.every(e => e.querySelector('canvas, svg'));
}"""


def wait_rendered(page: object, *, charts: bool, timeout_ms: int = 30_000) -> None:
    """Until the app stops running and every chart on the page is drawn (a plotly one at least if charts)."""
    page.wait_for_selector("h1", timeout=timeout_ms)  # type: ignore[attr-defined]
    if charts:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=timeout_ms)  # type: ignore[attr-defined]
    page.wait_for_function(_DRAWN, timeout=timeout_ms, polling="raf")  # type: ignore[attr-defined]


def screenshot(page: object, path: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport to fit it first."""
    size = page.viewport_size  # type: ignore[attr-defined]
    height = page.evaluate(  # type: ignore[attr-defined]
        "() => Math.max(...[...document.querySelectorAll("
        "'[data-testid=stMain], [data-testid=stAppViewContainer]')].map(e => e.scrollHeight),"
        " document.body.scrollHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 40), 8000)})  # type: ignore[attr-defined]
    page.wait_for_timeout(500)  # type: ignore[attr-defined]
    page.screenshot(path=path, full_page=True)  # type: ignore[attr-defined]
    page.set_viewport_size(size)  # type: ignore[attr-defined]
