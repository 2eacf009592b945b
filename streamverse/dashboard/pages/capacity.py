"""Capacity planner: change an input and the plan (with every step and assumption) follows."""

from __future__ import annotations

import streamlit as st

from streamverse.client import ControlClient
from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import bars, explain, fmt, usd

st.title("Capacity planner")
c = st.columns(4)
users = c[0].number_input("Users", min_value=0, value=10_000_000, step=1_000_000, key="cap_users")
uploads = c[1].number_input("Uploads per day", min_value=0, value=50_000, step=5_000, key="cap_uploads")
hit = c[2].slider("Cache hit ratio", 0.0, 1.0, 0.95, 0.01, key="cap_hit")
retention = c[3].number_input("Retention (days)", min_value=0, value=365, step=30, key="cap_retention")
reply = fetch(
    ControlClient.capacity_plan,
    users=int(users),
    uploads_per_day=int(uploads),
    cache_hit_ratio=float(hit),
    retention_days=float(retention),
)
if explain(reply, "Capacity plan") and reply.data is not None:
    plan = reply.data
    t = st.columns(5)
    t[0].metric("Storage", fmt(plan.storage_pb, ",.2f", " PB"))
    t[1].metric("Peak egress", fmt(plan.peak_egress_tbps, ",.2f", " Tbps"))
    t[2].metric("Transcode GPUs", fmt(plan.transcode_gpus, ",.0f"))
    t[3].metric("Database", fmt(plan.database_gb, ",.0f", " GB"))
    t[4].metric("Monthly cost", usd(plan.monthly_cost_usd, compact=True), help=usd(plan.monthly_cost_usd))
    # The cost lines themselves ("x_usd"): not their per-region parts, not the total.
    monthly = {
        x.name.removesuffix("_usd"): x.value
        for x in plan.steps
        if x.name.endswith("_usd") and x.name != "monthly_cost_usd"
    }
    if monthly:
        bars(monthly, title="Monthly cost by line", key="cap_cost_lines")
    st.markdown("#### Steps")
    st.dataframe([x.model_dump() for x in plan.steps], hide_index=True)
    with st.expander("Every assumption used"):
        st.json(plan.inputs)
