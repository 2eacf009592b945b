"""QoE: what viewers experience, by region, device and PoP, and the synthetic journeys against budget."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ControlClient
from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import explain, line_chart, metric, store_notice

BUDGET_MS = 300.0
PHASE_ORDER = ["dns", "tls", "auth", "discovery", "manifest", "first_segment"]

st.title("Quality of experience")
st.caption("Real-user QoE now, from player beacons to the API, grouped by:")
by = st.segmented_control("Group by", ["region", "device", "pop"], default="region", key="qoe_by") or "region"
qoe = fetch(ControlClient.qoe, by=by)
if explain(qoe, "Real-user QoE") and qoe.data is not None:
    rows = []
    for name, g in qoe.data.groups.items():
        row = {by: name, **g.model_dump(exclude={"avg_bitrate_bps"})}
        # people read Mbps, not bits per second
        row["avg_bitrate_mbps"] = None if g.avg_bitrate_bps is None else g.avg_bitrate_bps / 1e6
        rows.append(row)
    if rows:
        st.dataframe(
            rows,
            hide_index=True,
            column_config={
                "startup_p50_s": st.column_config.NumberColumn("startup p50 (s)", format="%.2f"),
                "startup_p95_s": st.column_config.NumberColumn("startup p95 (s)", format="%.2f"),
                "rebuffer_pct": st.column_config.NumberColumn("rebuffer %", format="%.2f"),
                "playback_failure_pct": st.column_config.NumberColumn("failures %", format="%.2f"),
                "ebvs_pct": st.column_config.NumberColumn("exit before start %", format="%.2f"),
                "avg_bitrate_mbps": st.column_config.NumberColumn("bitrate (Mbps)", format="%.2f"),
            },
        )
    else:
        st.caption("No player beacons received since the API started.")


def region_charts() -> None:
    """Startup p95, rebuffer ratio and failures per region over the last day, from the metric store."""
    left, right = st.columns(2)
    with left:
        startup = metric(
            "histogram_quantile(0.95, sum by (le, region) "
            "(rate(streamverse_playback_startup_seconds_bucket[30m])))",
            window_s=86400,
        )
        store_notice(startup)
        line_chart(startup, label="region", title="Startup p95 by region (s), 24 h", key="qoe_startup")
    with right:
        line_chart(
            metric(
                "sum by (region) (rate(streamverse_rebuffer_seconds_total[30m])) / "
                "sum by (region) (rate(streamverse_playback_seconds_total[30m]))",
                window_s=86400,
            ),
            label="region",
            title="Rebuffer ratio by region, 24 h",
            percent=True,
            key="qoe_rebuffer",
        )
    line_chart(
        metric("sum by (region) (rate(streamverse_playback_errors_total[30m]))", window_s=86400),
        label="region",
        title="Playback failures per second by region, 24 h",
        key="qoe_fail",
    )


def pop_bars(expr: str, *, title: str, key: str, percent: bool) -> None:
    """One bar per PoP for an instant expression, worst first."""
    answer = metric(expr)
    values = {
        s.labels.get("pop", "?"): s.values[-1]
        for s in (answer.series if answer is not None else [])
        if s.values and s.values[-1] is not None
    }
    if not values:
        st.caption(f"{title}: no data.")
        return
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=not percent)
    fig = go.Figure(go.Bar(x=[k for k, _ in items], y=[v for _, v in items], marker_color="#4c78a8"))
    fig.update_layout(title=title, height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    if percent:
        fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, key=key)


def pop_charts() -> None:
    """What each PoP serves: cache hit ratio and 5xx ratio over the last hour."""
    pop_bars(
        'sum by (pop) (rate(streamverse_edge_requests_total{cache="hit"}[1h])) / '
        "sum by (pop) (rate(streamverse_edge_requests_total[1h]))",
        title="Cache hit ratio by PoP, last hour (lowest first)",
        key="qoe_pop_hit",
        percent=True,
    )
    pop_bars(
        'sum by (pop) (rate(streamverse_edge_requests_total{code=~"5.."}[1h])) / '
        "sum by (pop) (rate(streamverse_edge_requests_total[1h]))",
        title="Edge 5xx ratio by PoP, last hour (worst first)",
        key="qoe_pop_5xx",
        percent=False,
    )


st.subheader(f"From the metric store, by {by}")
if by == "pop":
    pop_charts()
elif by == "device":
    st.caption(
        "The metric store keeps no per-device series: device QoE comes from player beacons (the table above)."
    )
else:
    region_charts()

st.subheader("Synthetic journeys")
phases = metric("avg by (region, phase) (streamverse_probe_phase_seconds)")
budget = metric("max by (phase) (streamverse_probe_phase_budget_seconds)")
series = phases.series if phases is not None else []
if not series:
    st.caption("No synthetic probe data yet (series streamverse_probe_phase_seconds).")
else:
    by_region: dict[str, list[tuple[str, float]]] = {}
    for s in series:
        last = s.values[-1] if s.values else None
        if last is not None:
            phase = s.labels.get("phase", "?")
            by_region.setdefault(s.labels.get("region", "?"), []).append((phase, last * 1000))
    budgets = [s.values[-1] for s in (budget.series if budget is not None else []) if s.values]
    total_budget = sum(v for v in budgets if v is not None) * 1000 or BUDGET_MS
    region = st.selectbox("Region", sorted(by_region), key="probe_region")
    # The journey's order, not the alphabet's: a waterfall reads as time.
    steps = sorted(
        by_region.get(region, []),
        key=lambda p: PHASE_ORDER.index(p[0]) if p[0] in PHASE_ORDER else len(PHASE_ORDER),
    )
    fig = go.Figure(
        go.Waterfall(
            x=[p for p, _ in steps] + ["total"],
            y=[v for _, v in steps] + [0],
            measure=["relative"] * len(steps) + ["total"],
        )
    )
    fig.add_hline(
        y=total_budget, line_dash="dash", line_color="red", annotation_text=f"budget {total_budget:.0f} ms"
    )
    fig.update_layout(height=340, yaxis_title="ms", margin={"l": 10, "r": 10, "t": 30, "b": 10})
    st.plotly_chart(fig, key="waterfall")
