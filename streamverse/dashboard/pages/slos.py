"""SLOs: every objective with its SLI, error budget, burn rates and forecast."""

from __future__ import annotations

import streamlit as st

from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import explain, fmt

st.title("Service level objectives")
reply = fetch("/slo")
if explain(reply, "SLOs"):
    slos = reply.data.get("slos", [])
    rows = [
        {
            "SLO": s["id"],
            "SLI": s.get("sli"),
            "objective": s.get("objective"),
            "budget left": (s.get("error_budget") or {}).get("remaining_ratio"),
            "burn 1h": (s.get("burn_rate") or {}).get("1h"),
            "alert": "page"
            if (s.get("alerts") or {}).get("page")
            else "ticket"
            if (s.get("alerts") or {}).get("ticket")
            else "ok",
        }
        for s in slos
    ]
    st.dataframe(
        rows,
        use_container_width=True,
        hide_index=True,
        column_config={
            "budget left": st.column_config.ProgressColumn(min_value=0, max_value=1, format="percent")
        },
    )
    if slos:
        pick = st.selectbox("SLO", [s["id"] for s in slos], key="slo_pick")
        s = next(x for x in slos if x["id"] == pick)
        budget = s.get("error_budget") or {}
        c = st.columns(4)
        c[0].metric("SLI", fmt(s.get("sli"), ".4%"))
        c[1].metric("Objective", fmt(s.get("objective"), ".3%"))
        c[2].metric("Budget left", fmt(budget.get("remaining_ratio"), ".1%"))
        c[3].metric("Budget minutes left", fmt(budget.get("remaining_minutes"), ",.1f"))
        st.bar_chart({w: v for w, v in (s.get("burn_rate") or {}).items()}, y_label="burn rate")
        forecast = s.get("forecast") or s.get("exhaustion")
        st.write("Forecast of exhaustion:", forecast if forecast else "no exhaustion forecast in this answer")
