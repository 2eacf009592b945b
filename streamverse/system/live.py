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
import logging
import os
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine

from streamverse.clock import Clock, RealClock
from streamverse.collectors.prometheus_process import NotInstalledError, StartError, start_prometheus
from streamverse.collectors.service import make_store
from streamverse.db import get_engine, init_db, session_scope
from streamverse.errors import UsageError
from streamverse.metricstore import MetricStore
from streamverse.platform.catalog import (
    account_username,
    get_video,
    list_renditions,
    seed_accounts,
    seed_catalog,
)
from streamverse.platform.control_app import create_platform_control_app
from streamverse.platform.gateway import create_gateway_app
from streamverse.platform.live.actuator import FaultActuator
from streamverse.platform.live.botnet import Botnet, viewer_address
from streamverse.platform.live.edge_server import start_edge_servers
from streamverse.platform.live.health_probe import HttpHealthProber
from streamverse.platform.live.origin_source import OriginSource
from streamverse.platform.live.player import LiveViewer
from streamverse.platform.live.serving import bind, serve
from streamverse.platform.media.live import chain_sizes, chain_sources, start_media
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import LimitTable, make_rate_limiter
from streamverse.platform.service import Platform
from streamverse.platform.topology import Topology, load_topology
from streamverse.platform.upstreams import create_accounts_app, create_catalog_app, create_playback_app
from streamverse.remediation.control import ControlClient
from streamverse.remediation.flows import Remediator, StatusProbe
from streamverse.remediation.probes import probe_for_topology
from streamverse.settings import Settings
from streamverse.system.app import create_app
from streamverse.system.live_system import (
    CATALOG_TITLES,
    DEMO_PASSWORD,
    EDGE_OFFSET,
    PORTS,
    LiveSystem,
    ensure_tokens,
    write_live_file,
)
from streamverse.system.loops import start_alert_loop
from streamverse.system.servers import port_for
from streamverse.system.tables import register_tables
from streamverse.system.telemetry import scrape_targets, start_telemetry

log = logging.getLogger("streamverse.live")


def _prepare_db(settings: Settings, *, accounts: int) -> Any:
    """Tables, the seeded catalog and demo accounts (idempotent, so restarts are quick)."""

    engine = get_engine(settings.resolved_database_url)
    init_db(engine, *register_tables())
    with session_scope(engine) as session:
        seed_catalog(session=session, count=CATALOG_TITLES, seed=settings.seed)
        seed_accounts(session=session, count=accounts, password=DEMO_PASSWORD)
    return engine



async def start_live_system(settings: Settings, *, viewers: int | None = None, prometheus: bool = False,
                            health_interval_s: float = 2.0, watch_s: tuple[float, float] = (20.0, 60.0),
                            seed: int | None = None, telemetry: bool = True,
                            telemetry_options: dict[str, Any] | None = None, alerts: bool = True,
                            alert_interval_s: float | None = None) -> LiveSystem:
    """Start everything on loopback and return once every server accepts connections.

    With `alerts` (and telemetry) the alert loop evaluates every `alert_interval_s`, by default
    alerting.yaml's `evaluation_interval` (10 s), and hands alerts to the incidents Remediator.
    """

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

    edge_ports = {p.name: port_for(settings, EDGE_OFFSET + i)
                  for i, p in enumerate(p for r in topology.regions for p in r.pops)}
    if settings.base_port:
        for port in [*edge_ports.values(), *(settings.base_port + o for o in PORTS.values())]:
            bind(host, port).close()  # fail before anything starts, naming the busy port
    # Uploads first: their object store sits in front of the synthetic origin source.
    media = await start_media(settings, engine=engine, clock=clock, host=host,
                              port=port_for(settings, PORTS["uploads"]))
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
                          port=port_for(settings, PORTS["platform_control"]))
        system.served.append(ctl)

        ups = {}
        for name, app in (
            ("accounts", create_accounts_app(engine=engine, metrics=service_metrics)),
            ("catalog", create_catalog_app(engine=engine, metrics=service_metrics)),
            ("playback", create_playback_app(settings=settings, clock=clock, metrics=service_metrics,
                                             engine=engine, resolve_pop=platform.dns.resolve,
                                             edge_url_for=lambda pop: system.edges[pop])),
        ):
            srv = await serve(app, name=name, host=host, port=port_for(settings, PORTS[name]))
            system.served.append(srv)
            ups[name] = srv.url
        ups["uploads"] = media.url
        limiter = make_rate_limiter(settings, clock=clock, limits=limits, metrics=service_metrics)
        system.closers.append(getattr(limiter, "aclose", None) or getattr(limiter, "close", lambda: None))
        gateway = create_gateway_app(settings=settings, clock=clock, limiter=limiter, limits=limits,
                                     metrics=service_metrics, upstreams=ups)
        gw = await serve(gateway, name="gateway", host=host, port=port_for(settings, PORTS["gateway"]))
        system.served.append(gw)

        api_settings = settings.model_copy(update={"platform_control_url": ctl.url})
        store = make_store(api_settings)
        system.remediator = _remediator(api_settings, engine, clock, topology, store)
        api_app = create_app(api_settings, engine=engine, store=store, remediator=system.remediator)
        api = await serve(api_app, name="api", host=host, port=port_for(settings, PORTS["api"]))
        system.served.append(api)

        system.urls = {"api": api.url, "docs": f"{api.url}/docs", "gateway": gw.url,
                       "platform_control": ctl.url, **{f"upstream_{k}": v for k, v in ups.items()}}
        write_live_file(system)
        system.tasks.append(asyncio.create_task(
            HttpHealthProber(platform.health, system.edges).run(system.stop_event), name="health-checks"))
        system.tasks.append(asyncio.create_task(
            Botnet(gateway_url=gw.url, faults=platform.faults, regions=[r.name for r in topology.regions],
                   seed=settings.seed).run(system.stop_event), name="botnet"))
        system.tasks.append(asyncio.create_task(
            FaultActuator(platform.faults, edges).run(system.stop_event), name="fault-actuator"))

        rng = random.Random(settings.seed if seed is None else seed)
        regions = [r.name for r in topology.regions]

        for i in range(n_viewers):
            viewer = LiveViewer(gateway_url=gw.url, username=account_username(i + 1), password=DEMO_PASSWORD,
                                region=regions[i % len(regions)], metrics=viewer_metrics, clock=clock,
                                seed=rng.randrange(2**31), watch_s=watch_s, name=f"viewer-{i + 1}",
                                demand=platform.faults.effects, local_address=viewer_address(i))
            system.viewers.append(viewer)
            system.tasks.append(asyncio.create_task(viewer.run(system.stop_event), name=f"viewer-{i + 1}"))
        if prometheus:
            await _start_prometheus(system)
        if telemetry:  # scraper, probes, log and beacon shipping, usage metering

            system.telemetry = await start_telemetry(system, settings, **(telemetry_options or {}))
        if alerts:

            system.alerts = await asyncio.to_thread(
                start_alert_loop, settings=settings, engine=engine, remediator=system.remediator,
                clock=clock, interval_s=alert_interval_s, store=store)
    except BaseException:
        await system.stop()
        raise
    return system


def _remediator(settings: Settings, engine: Engine, clock: Clock, topology: Topology,
                store: MetricStore) -> Remediator:
    """The control plane's Remediator, verifying runs on the store's edge error ratio (sees gray failures)."""

    origins = {o.name for o in topology.origins}

    def fallback(target: str) -> float | None:  # origin runbooks: the platform's own view is right
        if target not in origins:
            return None
        with contextlib.closing(ControlClient.from_settings(settings)) as ctl:
            return StatusProbe(ctl, "origin")(target)

    probe = probe_for_topology(topology, store, clock, fallback=fallback)
    return Remediator(settings=settings, engine=engine, clock=clock, sli_probe=probe)


def _build_platform(settings: Settings, *, topology: Any, clock: Any, engine: Any, metrics: Any,
                    limits: Any, health_interval_s: float, media: Any = None) -> tuple[Any, Any]:
    """The Platform with a live origin: uploaded renditions first, else synthetic HLS for seeded titles."""

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



async def _start_prometheus(system: LiveSystem) -> None:
    """The real Prometheus and Alertmanager scraping every /metrics endpoint (and the RUM series)."""

    settings = system.settings
    try:
        proc = await asyncio.to_thread(
            start_prometheus, targets=scrape_targets(system), data_dir=settings.data_dir / "prometheus",
            scrape_interval_s=5.0, with_alertmanager=True, host=settings.host,
            port=port_for(settings, PORTS["prometheus"]))
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


