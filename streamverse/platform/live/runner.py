"""`streamverse up`: the whole system live in one asyncio process on loopback.

Every service is a real uvicorn server on its own port (edges, shield/origin behind
them, gateway, accounts, catalog, playback, the platform's control endpoints, the
control-plane API), and the viewers are real HTTP clients, so what the control plane
sees is what a deployed platform would show. One process keeps `make run` a single
command on a fresh machine; nothing here is needed by the fast-forward driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from streamverse.clock import RealClock, utc_iso
from streamverse.errors import UsageError
from streamverse.settings import Settings

log = logging.getLogger("streamverse.live")

LIVE_FILE = "live.json"
TOKENS_FILE = "live_tokens.json"
DEMO_PASSWORD = "streamverse-demo"
CATALOG_TITLES = 3000
ROLES = ("viewer", "responder", "admin")
# Offsets from base_port; edges take base_port + EDGE_OFFSET onwards, in topology order.
PORTS = {"api": 0, "gateway": 1, "platform_control": 2, "accounts": 3, "catalog": 4, "playback": 5,
         "prometheus": 6, "alertmanager": 7, "uploads": 8}
EDGE_OFFSET = 10


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the runner (many servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    """One uvicorn server running as a task of this loop."""

    name: str
    url: str
    server: _Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Ask the server to finish its requests and close; wait for it."""
        self.server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, timeout=5)
        if not self.task.done():
            self.task.cancel()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. A busy port is a clear error, not a traceback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); another `streamverse up` "
                         "may be running. Set STREAMVERSE_BASE_PORT to another port, or 0 for free ports"
                         ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def free_port(host: str) -> int:
    """A port nothing listens on now (for servers that bind their own socket)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def serve(app: Any, *, name: str, host: str, port: int) -> Served:
    """Start `app` with uvicorn on host:port (0: a free port) and wait until it accepts."""
    sock = bind(host, port)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_keep_alive=30,
                            timeout_graceful_shutdown=2)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"serve-{name}")
    while not server.started:
        if task.done():
            sock.close()
            exc = task.exception() if not task.cancelled() else None
            raise RuntimeError(f"{name} failed to start: {exc!r}")
        await asyncio.sleep(0.005)
    bound = sock.getsockname()[1]
    return Served(name, f"http://{host}:{bound}", server, task)


def _port(settings: Settings, offset: int) -> int:
    return 0 if settings.base_port == 0 else settings.base_port + offset


@dataclass
class LiveSystem:
    """A running live system: its URLs, tokens and the platform, and how to stop it."""

    settings: Settings
    platform: Any
    urls: dict[str, str]
    edges: dict[str, str]
    tokens: dict[str, str]
    metrics: dict[str, Any]
    viewers: list[Any] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    telemetry: Any = None
    alerts: Any = None
    remediator: Any = None

    @property
    def live_file(self) -> Path:
        """Where the URLs are written for the CLI and the control plane."""
        return self.settings.data_dir / LIVE_FILE

    def beacons(self) -> list[dict[str, Any]]:
        """The newest QoE beacons of every live viewer, oldest first."""
        out: list[dict[str, Any]] = []
        for viewer in self.viewers:
            out.extend(viewer.beacons_as_dicts())
        return sorted(out, key=lambda b: b.get("ts", 0))

    async def stop(self) -> None:
        """Stop viewers, tickers, servers and child processes; remove live.json."""
        self.stop_event.set()
        if self.alerts is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.alerts.stop)
        if self.telemetry is not None:
            with contextlib.suppress(Exception):
                await self.telemetry.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for proc in self.processes:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), timeout=5)
                except TimeoutError:
                    proc.kill()
        for served in reversed(self.served):
            await served.stop()
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.live_file.read_text()).get("pid") == os.getpid():
                self.live_file.unlink()


def _prepare_db(settings: Settings, *, accounts: int) -> Any:
    """Tables, the seeded catalog and demo accounts (idempotent, so restarts are quick)."""
    from streamverse.db import get_engine, init_db, session_scope
    from streamverse.platform.catalog import seed_accounts, seed_catalog

    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    with session_scope(engine) as session:
        seed_catalog(session=session, count=CATALOG_TITLES, seed=settings.seed)
        seed_accounts(session=session, count=accounts, password=DEMO_PASSWORD)
    return engine


def ensure_tokens(settings: Settings, engine: Any) -> dict[str, str]:
    """One control-plane token per role, made on the first run and reused while still valid."""
    from streamverse.api import service
    from streamverse.db import session_scope

    path = settings.data_dir / TOKENS_FILE
    try:
        tokens = json.loads(path.read_text())
    except (OSError, ValueError):
        tokens = {}
    changed = False
    with session_scope(engine) as session:
        for role in ROLES:
            secret = tokens.get(role)
            token = service.authenticate(session=session, secret=secret) if secret else None
            if token is None or token.role != role:
                _row, tokens[role] = service.create_token(session=session, role=role, name=f"live-{role}")
                changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({r: tokens[r] for r in ROLES}, indent=2))
        path.chmod(0o600)
    return {r: tokens[r] for r in ROLES}


async def _health_ticker(platform: Any, interval_s: float, stop: asyncio.Event) -> None:
    """Runs the GeoDNS health checks on the wall clock."""
    while not stop.is_set():
        try:
            platform.health.tick()
        except Exception:
            log.exception("health check tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def start_live_system(settings: Settings, *, viewers: int | None = None, prometheus: bool = False,
                            health_interval_s: float = 2.0, watch_s: tuple[float, float] = (20.0, 60.0),
                            seed: int | None = None, telemetry: bool = True,
                            telemetry_options: dict[str, Any] | None = None, alerts: bool = True,
                            alert_interval_s: float | None = None) -> LiveSystem:
    """Start everything on loopback and return once every server accepts connections.

    With `alerts` (and telemetry) the alert loop evaluates every `alert_interval_s`, by default
    alerting.yaml's `evaluation_interval` (10 s), and hands alerts to the incidents Remediator.
    """
    from streamverse.api.app import create_app
    from streamverse.platform.control_app import create_platform_control_app
    from streamverse.platform.gateway import create_gateway_app
    from streamverse.platform.live.edge_server import start_edge_servers
    from streamverse.platform.live.player import LiveViewer
    from streamverse.platform.metrics import PlatformMetrics
    from streamverse.platform.ratelimit import LimitTable, make_rate_limiter
    from streamverse.platform.topology import load_topology
    from streamverse.platform.upstreams import create_accounts_app, create_catalog_app, create_playback_app

    n_viewers = settings.live_viewers if viewers is None else viewers
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    host = settings.host
    clock = RealClock()
    topology = load_topology(settings.topology_file)
    engine = await asyncio.to_thread(_prepare_db, settings, accounts=max(n_viewers, 10))
    tokens = await asyncio.to_thread(ensure_tokens, settings, engine)

    platform_metrics = PlatformMetrics()
    service_metrics = PlatformMetrics()
    viewer_metrics = PlatformMetrics()
    limits = LimitTable()
    from streamverse.platform.media.live import start_media

    edge_ports = {p.name: _port(settings, EDGE_OFFSET + i)
                  for i, p in enumerate(p for r in topology.regions for p in r.pops)}
    if settings.base_port:
        for port in [*edge_ports.values(), *(settings.base_port + o for o in PORTS.values())]:
            bind(host, port).close()  # fail before anything starts, naming the busy port
    # Uploads first: their object store sits in front of the synthetic origin source.
    media = await start_media(settings, engine=engine, clock=clock, host=host,
                              port=_port(settings, PORTS["uploads"]))
    try:
        platform, video_objects = _build_platform(settings, topology=topology, clock=clock, engine=engine,
                                                  metrics=platform_metrics, limits=limits,
                                                  health_interval_s=health_interval_s, media=media)
    except BaseException:
        await media.stop()
        raise
    system = LiveSystem(settings=settings, platform=platform, urls={}, edges={}, tokens=tokens,
                        metrics={"platform": platform_metrics, "services": service_metrics,
                                 "viewers": viewer_metrics})
    system.closers.append(media.stop)
    try:
        key = settings.resolved_jwt_secret.encode()
        try:
            edges = await start_edge_servers(platform, host=host, ports=edge_ports, key=key,
                                             metrics=platform_metrics)
        except OSError as exc:
            raise UsageError(f"cannot start the edge servers: {exc}. Set STREAMVERSE_BASE_PORT to another "
                             "port, or 0 for free ports") from None
        system.edges = dict(edges)
        system.closers.append(edges.stop)

        control_app = create_platform_control_app(platform, key=settings.resolved_control_key,
                                                  video_objects=video_objects)
        _add_metrics_route(control_app, platform, platform_metrics, viewer_metrics)
        ctl = await serve(control_app, name="platform-control", host=host,
                          port=_port(settings, PORTS["platform_control"]))
        system.served.append(ctl)

        ups = {}
        for name, app in (
            ("accounts", create_accounts_app(engine=engine, metrics=service_metrics)),
            ("catalog", create_catalog_app(engine=engine, metrics=service_metrics)),
            ("playback", create_playback_app(settings=settings, clock=clock, metrics=service_metrics,
                                             engine=engine, resolve_pop=platform.dns.resolve,
                                             edge_url_for=lambda pop: system.edges[pop])),
        ):
            srv = await serve(app, name=name, host=host, port=_port(settings, PORTS[name]))
            system.served.append(srv)
            ups[name] = srv.url
        ups["uploads"] = media.url
        limiter = make_rate_limiter(settings, clock=clock, limits=limits, metrics=service_metrics)
        system.closers.append(getattr(limiter, "aclose", None) or getattr(limiter, "close", lambda: None))
        gateway = create_gateway_app(settings=settings, clock=clock, limiter=limiter, limits=limits,
                                     metrics=service_metrics, upstreams=ups)
        gw = await serve(gateway, name="gateway", host=host, port=_port(settings, PORTS["gateway"]))
        system.served.append(gw)

        api_settings = settings.model_copy(update={"platform_control_url": ctl.url})
        api_app = create_app(api_settings, engine=engine)
        system.remediator = api_app.state.remediator = _remediator(api_settings, engine, clock, topology)
        api = await serve(api_app, name="api", host=host, port=_port(settings, PORTS["api"]))
        system.served.append(api)

        system.urls = {"api": api.url, "docs": f"{api.url}/docs", "gateway": gw.url,
                       "platform_control": ctl.url, **{f"upstream_{k}": v for k, v in ups.items()}}
        _write_live_file(system)
        system.tasks.append(asyncio.create_task(
            _health_ticker(platform, health_interval_s, system.stop_event), name="health-ticker"))

        rng = random.Random(settings.seed if seed is None else seed)
        regions = [r.name for r in topology.regions]
        from streamverse.platform.catalog import account_username

        for i in range(n_viewers):
            viewer = LiveViewer(gateway_url=gw.url, username=account_username(i + 1), password=DEMO_PASSWORD,
                                region=regions[i % len(regions)], metrics=viewer_metrics, clock=clock,
                                seed=rng.randrange(2**31), watch_s=watch_s, name=f"viewer-{i + 1}",
                                demand=platform.faults.effects)
            system.viewers.append(viewer)
            system.tasks.append(asyncio.create_task(viewer.run(system.stop_event), name=f"viewer-{i + 1}"))
        if prometheus:
            await _start_prometheus(system)
        if telemetry:  # scraper, probes, log and beacon shipping, usage metering
            from streamverse.collectors.live import start_telemetry

            system.telemetry = await start_telemetry(system, settings, **(telemetry_options or {}))
        if alerts:
            from streamverse.alerts.live import start_alert_loop

            system.alerts = await asyncio.to_thread(
                start_alert_loop, settings=settings, engine=engine, remediator=system.remediator,
                clock=clock, interval_s=alert_interval_s)
    except BaseException:
        await system.stop()
        raise
    return system


def _remediator(settings: Settings, engine: Any, clock: Any, topology: Any) -> Any:
    """The control plane's Remediator, verifying runs on the store's edge error ratio (sees gray failures)."""
    from streamverse.alerts.live import probe_for_topology
    from streamverse.collectors.service import make_store
    from streamverse.incidents.control import ControlClient
    from streamverse.incidents.flows import Remediator, StatusProbe

    origins = {o.name for o in topology.origins}

    def fallback(target: str) -> float | None:  # origin runbooks: the platform's own view is right
        if target not in origins:
            return None
        with contextlib.closing(ControlClient.from_settings(settings)) as ctl:
            return StatusProbe(ctl, "origin")(target)

    probe = probe_for_topology(topology, make_store(settings), clock, fallback=fallback)
    return Remediator(settings=settings, engine=engine, clock=clock, sli_probe=probe)


def _build_platform(settings: Settings, *, topology: Any, clock: Any, engine: Any, metrics: Any,
                    limits: Any, health_interval_s: float, media: Any = None) -> tuple[Any, Any]:
    """The Platform with a live origin: uploaded renditions first, else synthetic HLS for seeded titles."""
    from streamverse.platform.live.origin_source import OriginSource
    from streamverse.platform.media.live import chain_sizes, chain_sources
    from streamverse.platform.service import Platform

    info = _video_info(engine)
    origin = OriginSource(video_info=info)
    source = chain_sources(media.origin_read, origin) if media is not None else origin
    size_of = chain_sizes(media.size_of, origin.size_of) if media is not None else origin.size_of
    platform = Platform(topology=topology, clock=clock, pop_cache_bytes=settings.live_cache_bytes,
                        shield_cache_bytes=settings.live_cache_bytes * 4, origin_source=source,
                        origin_size_of=size_of, limits=limits, metrics=metrics, seed=settings.seed,
                        health_interval_s=health_interval_s)
    return platform, origin.objects_for_video


def _video_info(engine: Any) -> Any:
    """video_id -> (duration, renditions), cached: the catalog does not change while serving."""
    from functools import lru_cache

    from sqlmodel import Session

    from streamverse.platform.catalog import get_video, list_renditions

    @lru_cache(maxsize=4096)
    def video_info(video_id: int) -> Any:
        with Session(engine) as session:
            video = get_video(session=session, video_id=video_id)
            if video is None:
                return None
            return {"video_id": video_id, "duration_s": float(video.duration_s),
                    "renditions": [(r.name, int(r.bitrate_bps), int(r.width), int(r.height))
                                   for r in list_renditions(session=session, video_id=video_id)]}

    return video_info


class _WithoutPopSeries:
    """The platform's series that no edge exports (shields, origin, DNS), so nothing is scraped twice."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        from prometheus_client.metrics_core import Metric

        for fam in self.registry.collect():
            samples = [s for s in fam.samples if not s.labels.get("pop")]
            if samples:
                out = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                out.samples = samples
                yield out


def _add_metrics_route(app: Any, platform: Any, platform_metrics: Any, viewer_metrics: Any) -> None:
    """/metrics of the platform process: shields, origin, DNS and the live viewers' QoE."""
    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    view = _WithoutPopSeries(platform_metrics.registry)

    @app.get("/metrics", summary="Prometheus metrics")
    def prometheus_metrics() -> Response:
        platform.export_metrics()
        body = generate_latest(view) + generate_latest(viewer_metrics.registry)  # type: ignore[arg-type]
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _write_live_file(system: LiveSystem) -> None:
    data = {"pid": os.getpid(), "started_at": utc_iso(RealClock().now()), "api_url": system.urls["api"],
            "docs_url": system.urls["docs"], "gateway_url": system.urls["gateway"],
            "platform_control_url": system.urls["platform_control"], "edges": system.edges,
            "metrics": metrics_targets(system)}
    system.live_file.write_text(json.dumps(data, indent=2))


def metrics_targets(system: LiveSystem) -> dict[str, list[str]]:
    """Every /metrics endpoint by job, for Prometheus and the printed table."""
    out = {"gateway": [f"{system.urls['gateway']}/metrics"],
           "platform": [f"{system.urls['platform_control']}/metrics"],
           "edge": [f"{url}/metrics" for url in system.edges.values()]}
    if "upstream_uploads" in system.urls:
        out["uploads"] = [f"{system.urls['upstream_uploads']}/metrics"]
    return out


async def _start_prometheus(system: LiveSystem) -> None:
    """The real Prometheus and Alertmanager scraping every /metrics endpoint (and the RUM series)."""
    from streamverse.collectors.live import scrape_targets
    from streamverse.collectors.prometheus_process import NotInstalledError, StartError, start_prometheus

    settings = system.settings
    try:
        proc = await asyncio.to_thread(
            start_prometheus, targets=scrape_targets(system), data_dir=settings.data_dir / "prometheus",
            scrape_interval_s=5.0, with_alertmanager=True, host=settings.host,
            port=_port(settings, PORTS["prometheus"]))
    except NotInstalledError as exc:
        system.urls["prometheus"] = f"not installed ({exc})"
        return
    except StartError as exc:
        system.urls["prometheus"] = f"failed to start: {exc}"
        return
    system.closers.append(lambda: asyncio.to_thread(proc.stop))
    system.urls["prometheus"] = proc.url
    if proc.alertmanager_url:
        system.urls["alertmanager"] = proc.alertmanager_url


def _dashboard_line(settings: Settings, dashboard: bool) -> str:
    if not dashboard:
        return "off (--no-dashboard)"
    from importlib.util import find_spec

    if find_spec("streamverse.dashboard.app") is None:
        return "not built yet"
    return f"http://{settings.host}:{settings.dashboard_port}"


async def _start_dashboard(system: LiveSystem) -> None:
    """The Streamlit dashboard as a child process, when it exists and Streamlit is installed."""
    import sys
    from importlib.util import find_spec

    spec = find_spec("streamverse.dashboard.app")
    if spec is None or spec.origin is None or find_spec("streamlit") is None:
        system.urls["dashboard"] = "not built yet" if spec is None else "streamlit not installed"
        return
    settings = system.settings
    env = {**os.environ, "STREAMVERSE_API_URL": system.urls["api"],
           "STREAMVERSE_TOKEN": system.tokens["viewer"], "STREAMVERSE_DATA_DIR": str(settings.data_dir)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamlit", "run", spec.origin, "--server.headless=true",
        f"--server.port={settings.dashboard_port}", f"--server.address={settings.host}",
        # users never see a traceback or a usage-stats call; the log has the details
        "--browser.gatherUsageStats=false", "--client.showErrorDetails=none",
        "--client.toolbarMode=minimal", "--server.fileWatcherType=none",
        env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=(settings.data_dir / "logs" / "dashboard.log").open("ab"))
    system.processes.append(proc)
    system.urls["dashboard"] = f"http://{settings.host}:{settings.dashboard_port}"


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
