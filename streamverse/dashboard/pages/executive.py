"""Executive: SLA attainment, downtime, revenue impact and cost, with the reports to download."""

from __future__ import annotations

import streamlit as st

from streamverse.client import ApiError
from streamverse.dashboard.connection import client, fetch
from streamverse.dashboard.pages.costs import months
from streamverse.dashboard.widgets import explain, fmt

st.title("Executive summary")
month = st.selectbox("Month", months(), key="exec_month")
slo = fetch("/slo")
if explain(slo, "SLA attainment"):
    slos = slo.data.get("slos", [])
    met = [s for s in slos if s.get("sli") is not None and s["sli"] >= s.get("objective", 1)]
    down = sum((s.get("error_budget") or {}).get("consumed_minutes") or 0 for s in slos)
    c = st.columns(3)
    c[0].metric("SLOs met", f"{len(met)} / {len(slos)}")
    c[1].metric("Downtime minutes (budget consumed)", fmt(down, ",.1f"))
    c[2].metric(
        "Worst SLI", fmt(min((s["sli"] for s in slos if s.get("sli") is not None), default=None), ".3%")
    )
    st.dataframe(
        [
            {"SLO": s["id"], "SLI": s.get("sli"), "objective": s.get("objective"), "met": s in met}
            for s in slos
        ],
        use_container_width=True,
        hide_index=True,
    )
cost = fetch("/costs/summary", month=month)
st.subheader("Cost")
if explain(cost, "Cost summary"):
    nums = {k: v for k, v in cost.data.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    cols = st.columns(max(1, min(4, len(nums))))
    for i, (k, v) in enumerate(list(nums.items())[:4]):
        cols[i].metric(k.replace("_", " "), fmt(float(v), ",.2f"))
    impact = cost.data.get("incidents") or cost.data.get("revenue_impact")
    if impact:
        st.markdown("#### Revenue impact of incidents")
        st.json(impact, expanded=False)

st.subheader("Reports")
for label, path in (("SLA report", "/reports/sla"), ("Cost report", "/reports/cost")):
    cols = st.columns(2)
    for i, fmt_ in enumerate(("html", "pdf")):
        key = f"dl_{path}_{fmt_}_{month}"
        if cols[i].button(f"Prepare {label} ({fmt_.upper()})", key=f"prep_{key}"):
            try:
                body, ctype = client().download(path, month=month, format=fmt_)
                st.session_state[key] = (body, ctype)
            except ApiError as exc:
                st.session_state[key] = None
                if exc.status == 404:
                    st.info(f"{label}: not available yet (the API has no {path} endpoint).")
                else:
                    st.error(f"{label}: {exc.detail}")
        got = st.session_state.get(key)
        if got:
            cols[i].download_button(
                f"Download {label} ({fmt_.upper()})",
                got[0],
                file_name=f"{path.split('/')[-1]}-{month}.{fmt_}",
                mime=got[1],
                key=f"save_{key}",
            )
