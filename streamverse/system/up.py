"""`streamverse up`: start everything, print where it is, run until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal

from streamverse.settings import Settings
from streamverse.system.live import _dashboard_line, _start_dashboard, start_live_system
from streamverse.system.live_system import DEMO_PASSWORD, LiveSystem


def print_urls(system: LiveSystem) -> None:
    """The table people read first: where everything is and how to log in."""
    from rich.table import Table

    from streamverse.output import console

    topo = system.platform.topology
    table = Table("what", "where", title="StreamVerse is up", title_justify="left")
    table.add_row("control API", system.urls["api"])
    table.add_row("API docs (OpenAPI)", system.urls["docs"])
    table.add_row("dashboard", system.urls.get("dashboard", "not built yet"))
    table.add_row("API gateway", system.urls["gateway"])
    table.add_row("platform control", system.urls["platform_control"] + "  (X-Control-Key in data dir)")
    for region in topo.regions:
        urls = [system.edges[p.name] for p in region.pops if p.name in system.edges]
        ports = sorted(int(u.rsplit(":", 1)[1]) for u in urls)
        span = f"ports {ports[0]}-{ports[-1]}" if ports else "-"
        table.add_row(f"edges {region.name}", f"{len(urls)} PoPs, {span}")
    table.add_row("metrics", f"{system.urls['gateway']}/metrics, {system.urls['platform_control']}/metrics, "
                             "each edge's /metrics")
    for name in ("prometheus", "alertmanager"):
        if name in system.urls:
            table.add_row(name, system.urls[name])
    table.add_row("live viewers", f"{len(system.viewers)} across {len(topo.regions)} regions")
    table.add_row("logs (JSON)", str(system.settings.data_dir / "logs"))
    console.print(table)
    console.print("Log in to the control API with one of these (Authorization: Bearer TOKEN):")
    for role, secret in system.tokens.items():
        console.print(f"  {role:<9} {secret}", highlight=False, soft_wrap=True)
    console.print(f"Demo viewer login at the gateway: viewer0001 / {DEMO_PASSWORD}", highlight=False)
    console.print("Try: streamverse fault inject region-outage --target us-east --duration 2m",
                  highlight=False)
    console.print("Ctrl-C stops everything.")


def setup_live_logging(settings: Settings) -> None:
    """JSON logs to data_dir/logs, one file per service, each line carrying its trace id."""
    from streamverse.jsonlog import JsonFormatter, setup_logging

    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    setup_logging("streamverse", settings.log_level, stream=(logs / "streamverse.jsonl").open("a"))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per viewer request is noise
    for service, loggers in {
        "gateway": ("streamverse.gateway", "streamverse.ratelimit"),
        "accounts": ("streamverse.accounts",), "catalog": ("streamverse.catalog",),
        "playback": ("streamverse.playback",), "edge": ("streamverse.platform.edge",),
        "upstreams": ("streamverse.upstreams",), "platform-control": ("streamverse.platform.control",),
        "control-api": ("streamverse.api",), "viewers": ("streamverse.player",),
        "uploads": ("streamverse.uploads", "streamverse.media", "streamverse.privacy"),
    }.items():
        handler = logging.StreamHandler((logs / f"{service}.jsonl").open("a"))
        handler.setFormatter(JsonFormatter(service))
        for name in loggers:
            lg = logging.getLogger(name)
            lg.addHandler(handler)
            lg.propagate = False


def run_up(settings: Settings, *, prometheus: bool, dashboard: bool) -> int:
    """Run everything until Ctrl-C or SIGTERM; returns the process exit code."""
    setup_live_logging(settings)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        system = await start_live_system(settings, prometheus=prometheus)
        try:
            if dashboard:
                await _start_dashboard(system)
            else:
                system.urls["dashboard"] = _dashboard_line(settings, dashboard)
            print_urls(system)
            await stop.wait()
        finally:
            from streamverse.output import console

            console.print("Stopping...")
            await system.stop()
        return 0

    return asyncio.run(main())

