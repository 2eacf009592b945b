"""Fault lab (admin): inject a scenario and watch it unfold on the platform."""

from __future__ import annotations

import streamlit as st

from streamverse.client import ControlClient
from streamverse.dashboard.connection import act, fetch, has_role
from streamverse.dashboard.widgets import explain, guarded, line_chart, metric

st.title("Fault lab")
if not has_role("admin"):
    st.warning("The fault lab needs the admin role.", icon=":material/lock:")
    st.stop()

scenarios = fetch(ControlClient.scenarios)
if explain(scenarios, "Scenarios") and scenarios.data is not None:
    items = scenarios.data
    names = [s.name for s in items]
    with st.form("inject"):
        name = st.selectbox("Scenario", names, key="scenario")
        target = st.text_input("Target (blank: the scenario's default)", key="target")
        duration = st.text_input("Duration", value="5m", key="duration")
        if st.form_submit_button("Inject fault", type="primary"):
            out, err = act(
                ControlClient.inject_fault, scenario=name, target=target.strip() or None, duration=duration
            )
            if err or out is None:
                st.error(f"Not injected: {err.detail if err else 'no answer'}")
            else:
                st.success(f"Injected {out.scenario} on {out.target} until {out.end:%H:%M} UTC ({out.id}).")
    with st.expander("Scenario details"):
        st.dataframe([s.model_dump(mode="json") for s in items])


@st.fragment(run_every=5)
@guarded
def unfolding() -> None:
    """Active faults and how the platform reacts, every 5 s."""
    faults = fetch(ControlClient.faults, active_only=True)
    st.subheader("Active faults")
    if explain(faults, "Faults"):
        rows = faults.data or []
        if rows:
            st.dataframe([f.model_dump(mode="json") for f in rows])
            if st.button("End every fault now", key="clear_all"):
                _, err = act(ControlClient.clear_faults)
                st.error(err.detail) if err else st.success("All faults ended.")
        else:
            st.caption("No active fault.")
    status = fetch(ControlClient.platform_status)
    if status.data is not None:
        down = [p for p, i in status.data.pops.items() if not i.healthy]
        st.caption(f"PoPs routing considers down: {', '.join(down) or 'none'}")


unfolding()
left, right = st.columns(2)
with left:
    line_chart(
        metric("sum by (region) (rate(streamverse_edge_requests_total[1m]))", window_s=1800),
        label="region",
        title="Edge requests per second by region, last 30 min",
        key="fault_rps",
    )
with right:
    five = metric('sum by (pop) (rate(streamverse_edge_requests_total{code=~"5.."}[1m]))', window_s=1800)
    if five is not None and not five.series:
        st.caption("Edge 5xx by PoP, last 30 min: none.")
    else:
        line_chart(five, label="pop", title="Edge 5xx per second by PoP, last 30 min", key="fault_5xx")
