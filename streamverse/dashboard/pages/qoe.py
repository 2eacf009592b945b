"""QoE: what viewers experience, by region, device and PoP, and the synthetic journeys against budget."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import explain, line_chart, metric, store_notice

BUDGET_MS = 300.0

st.title("Quality of experience")
by = st.segmented_control("Group by", ["region", "device", "pop"], default="region", key="qoe_by") or "region"
qoe = fetch("/rum/qoe", by=by)
if explain(qoe, "Real-user QoE"):
    groups: Any = qoe.data.get("groups", {})
    rows = [{by: k, **v} for k, v in groups.items()] if isinstance(groups, dict) else list(groups)
    if rows:
        st.dataframe(rows, use_container_width=True, hide_index=True)
    else:
        st.caption("No player beacons received since the API started.")

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

st.subheader("Synthetic journeys")
phases = metric("avg by (region, phase) (streamverse_probe_phase_seconds)")
budget = metric("max by (phase) (streamverse_probe_phase_budget_seconds)")
series = (phases or {}).get("series", [])
if not series:
    st.caption("No synthetic probe data yet (series streamverse_probe_phase_seconds).")
else:
    by_region: dict[str, list[tuple[str, float]]] = {}
    for s in series:
        if s["values"] and s["values"][-1] is not None:
            by_region.setdefault(s["labels"].get("region", "?"), []).append(
                (s["labels"].get("phase", "?"), s["values"][-1] * 1000)
            )
    total_budget = (
        sum(s["values"][-1] for s in (budget or {}).get("series", []) if s["values"]) * 1000 or BUDGET_MS
    )
    region = st.selectbox("Region", sorted(by_region), key="probe_region")
    steps = by_region.get(region, [])
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
    st.plotly_chart(fig, use_container_width=True, key="waterfall")
