"""Global status: is StreamVerse healthy, and where is it not?"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ControlClient
from streamverse.client.models import PlatformStatus, PopState, RegionState
from streamverse.client.reports import SloStatus
from streamverse.dashboard.connection import Reply, fetch
from streamverse.dashboard.widgets import (
    HEALTH_COLOURS,
    ago,
    explain,
    fmt,
    guarded,
    latest,
    line_chart,
    metric,
)

WINDOW = "15m"
VIEWERS = "sum(rate(streamverse_playback_seconds_total[15m]))"
AVAILABILITY = (
    "1 - sum(rate(streamverse_playback_errors_total[15m])) / "
    "sum(rate(streamverse_playback_sessions_total[15m]))"
)
# Where players report no errors series (e.g. backfilled history), what the edges answered without a 5xx.
EDGE_AVAILABILITY = (
    'sum(rate(streamverse_edge_requests_total{code!~"5.."}[15m])) / '
    "sum(rate(streamverse_edge_requests_total[15m]))"
)
STALE_AFTER_S = 300.0
MAX_BANNER_LINES = 6
STARTUP_P95 = "histogram_quantile(0.95, sum by (le) (rate(streamverse_playback_startup_seconds_bucket[15m])))"
HIT_RATIO = (
    'sum(rate(streamverse_edge_requests_total{cache="hit"}[15m])) / '
    "sum(rate(streamverse_edge_requests_total[15m]))"
)
VIEWERS_BY_REGION = "sum by (region) (rate(streamverse_playback_seconds_total[15m]))"


def _places(status: PlatformStatus | None) -> dict[str, dict[str, tuple[float, float]]]:
    """Coordinates of regions and PoPs as the platform reports them (none when it cannot be reached)."""
    if status is None:
        return {"regions": {}, "pops": {}}
    return {
        "regions": {name: (r.lat, r.lon) for name, r in status.regions.items()},
        "pops": {name: (p.lat, p.lon) for name, p in status.pops.items()},
    }


def pop_health(info: PopState) -> str:
    """down / degraded / healthy, as routing sees the PoP."""
    if info.hard_down or not info.healthy:
        return "down"
    if info.weight < 1.0:
        return "degraded"
    return "healthy"


def region_health(name: str, info: RegionState, pops: dict[str, PopState]) -> str:
    """A region is down when no PoP is usable, degraded when some are not or it is drained."""
    mine = [pop_health(p) for p in pops.values() if p.region == name]
    if not info.healthy or (mine and all(h == "down" for h in mine)):
        return "down"
    if info.weight < 1.0 or any(h != "healthy" for h in mine):
        return "degraded"
    return "healthy"


def banners(status: PlatformStatus) -> list[str]:
    """Sentences for what is wrong now, e.g. 'PoP tokyo-7 down, traffic routed to tokyo-1'."""
    out = []
    pops = status.pops
    for name, info in sorted(pops.items()):
        health = pop_health(info)
        if health == "healthy":
            continue
        others = [
            p
            for p, o in sorted(pops.items())
            if p != name and o.region == info.region and pop_health(o) == "healthy" and o.weight > 0
        ]
        where = f"traffic routed to {', '.join(others)}" if others else "no healthy PoP left in its region"
        verb = "down" if health == "down" else f"at weight {info.weight:g}"
        out.append(f"PoP {name} ({info.region}) {verb}, {where}")
    for name, region in sorted(status.regions.items()):
        if region.weight < 1.0:
            out.append(f"Region {name} drained to weight {region.weight:g}")
    for f in status.faults:
        if f.active:
            out.append(f"Fault injected: {f.scenario} on {f.target or 'default target'}")
    return out


def world_map(status: PlatformStatus | None) -> go.Figure:
    """Regions (large) and PoPs (small) coloured by health on coarse outlines; nothing drawn where unknown."""
    from streamverse.dashboard.world_outline import CONTINENTS

    places = _places(status)
    fig = go.Figure()
    for outline in CONTINENTS.values():
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in outline],
                y=[p[1] for p in outline],
                fill="toself",
                mode="lines",
                line={"color": "#d9d9d9", "width": 1},
                fillcolor="#eeeeee",
                hoverinfo="skip",
                showlegend=False,
            )
        )
    pops = status.pops if status is not None else {}
    regions = status.regions if status is not None else {}
    for kind, size in (("regions", 26), ("pops", 10)):
        names = list(places[kind])
        health = []
        for n in names:
            if status is None:
                health.append("unknown")
            elif kind == "pops":
                health.append(pop_health(pops[n]) if n in pops else "unknown")
            else:
                health.append(region_health(n, regions[n], pops) if n in regions else "unknown")
        fig.add_trace(
            go.Scatter(
                x=[places[kind][n][1] for n in names],
                y=[places[kind][n][0] for n in names],
                text=[f"{n}: {h}" for n, h in zip(names, health, strict=True)],
                hoverinfo="text",
                mode="markers",
                name=kind,
                showlegend=False,
                marker={
                    "size": size,
                    "color": [HEALTH_COLOURS[h] for h in health],
                    "opacity": 0.45 if kind == "regions" else 1.0,
                    "line": {"width": 1, "color": "white"},
                },
            )
        )
    for label, colour in HEALTH_COLOURS.items():
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="markers", name=label, marker={"size": 10, "color": colour})
        )
    fig.update_xaxes(range=[-180, 180], visible=False)
    fig.update_yaxes(range=[-58, 80], visible=False, scaleanchor="x")
    fig.update_layout(
        height=440,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        plot_bgcolor="#f5f9fd",
        legend={"orientation": "h", "y": 0.02, "x": 0.01},
    )
    return fig


def _now() -> float:
    return datetime.now(UTC).timestamp()


def budget_tile(col: Any, slo: Reply[SloStatus]) -> None:
    """The SLO whose error budget is lowest (aggregates only), named, so the number can be followed up."""
    rows = [s for s in (slo.data.slos if slo.data is not None else []) if not s.slice]
    left = [
        (s.error_budget.remaining_ratio, s.id) for s in rows if s.error_budget.remaining_ratio is not None
    ]
    if not left:
        col.metric("Worst error budget left", "—", help="No SLO status yet.")
        return
    worst, name = min(left)
    col.metric(
        "Worst error budget left",
        fmt(worst * 100, ",.0f", " %"),
        delta=name.removeprefix("streamverse-"),
        delta_color="off",
        delta_arrow="off",
        help=f"{name}: {worst:.1%} of its error budget left over its period. The SLOs page has every SLO.",
    )


@st.fragment(run_every=10)
@guarded
def live() -> None:
    """Banner, tiles and map, refreshed every 10 s without rerunning the page."""
    reply = fetch(ControlClient.platform_status)
    status = reply.data
    incidents = fetch(ControlClient.incidents, status="triggered")
    acked = fetch(ControlClient.incidents, status="acknowledged")
    # What is broken now first ("PoP tokyo-7 down, traffic routed to ..."), then incidents, worst first.
    lines = banners(status) if status is not None else []
    open_incidents = sorted((incidents.data or []) + (acked.data or []), key=lambda i: (i.severity, -i.id))
    for inc in open_incidents:
        lines.append(f"Incident #{inc.id} ({inc.severity}, {inc.status}): {inc.title}")
    if len(lines) > MAX_BANNER_LINES:
        more = len(lines) - MAX_BANNER_LINES + 1
        lines = [*lines[: MAX_BANNER_LINES - 1], f"... and {more} more: see Alerts & incidents."]
    if lines:
        st.error("  \n".join(lines), icon=":material/warning:")
    elif status is not None:
        st.success(
            "All regions and PoPs healthy; no active incidents or faults.", icon=":material/check_circle:"
        )
    tiles = {
        k: latest(e)
        for k, e in (
            ("viewers", VIEWERS),
            ("avail", AVAILABILITY),
            ("p95", STARTUP_P95),
            ("hit", HIT_RATIO),
        )
    }
    avail_help = "Playback sessions without an error, last 15 min."
    if tiles["avail"][0] is None:
        tiles["avail"] = latest(EDGE_AVAILABILITY)
        avail_help = "Edge requests answered without a 5xx, last 15 min (players report no error series)."
    stamps = [ts for _, ts in tiles.values() if ts is not None]
    newest = max(stamps) if stamps else None
    age = None if newest is None else max(0.0, _now() - newest)
    if newest is None:
        st.warning("No metric samples in the last hour: the tiles are empty.", icon=":material/schedule:")
    elif age is not None and age > STALE_AFTER_S:
        st.warning(
            f"Metric data is stale: the newest sample is {ago(age)} old; the tiles show it as it was then.",
            icon=":material/schedule:",
        )
    cols = st.columns(5)
    viewers, availability, p95, hit = (tiles[k][0] for k in ("viewers", "avail", "p95", "hit"))
    cols[0].metric("Active viewers", fmt(viewers), help="Seconds of video played per second, last 15 min.")
    cols[1].metric(
        "Availability (15 min)",
        fmt(None if availability is None else availability * 100, ".3f", " %"),
        help=avail_help,
    )
    cols[2].metric("Startup p95", fmt(None if p95 is None else p95 * 1000, ",.0f", " ms"))
    cols[3].metric("Cache hit ratio", fmt(None if hit is None else hit * 100, ".1f", " %"))
    budget_tile(cols[4], fetch(ControlClient.slo_status))
    st.markdown("##### Regions and PoPs")
    explain(reply, "Platform status")
    if status is None:
        st.caption("Region and PoP health comes from the running platform; the map fills in when it answers.")
    st.plotly_chart(world_map(status), key="world_map")


st.title("Global status")
live()
line_chart(
    metric(VIEWERS_BY_REGION, window_s=86400),
    label="region",
    title="Viewers by region, last 24 h",
    key="viewers_24h",
)
