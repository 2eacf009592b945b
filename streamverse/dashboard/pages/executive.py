"""Executive: SLA attainment per month, downtime, revenue impact and cost, with the reports to download."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ApiError
from streamverse.dashboard.connection import client, fetch
from streamverse.dashboard.widgets import explain, fmt, months, usd

MONTHS_SHOWN = 3


def downtime_minutes(report: dict[str, Any]) -> float:
    """Bad minutes of the critical SLOs, aggregates only (slices would count the same minute twice)."""
    return sum(
        r.get("bad_minutes") or 0.0
        for r in report.get("rows", [])
        if r.get("critical") and not r.get("slice")
    )


def attainment_chart(reports: dict[str, dict[str, Any]]) -> None:
    """Platform availability per month against the strictest critical objective."""
    got = [(m, r) for m, r in sorted(reports.items()) if r]
    if not got:
        return
    fig = go.Figure(
        go.Bar(
            x=[m for m, _ in got],
            y=[(r.get("summary") or {}).get("platform_availability") for _, r in got],
            text=[f"{(r.get('summary') or {}).get('slos_met', 0)} SLOs met" for _, r in got],
            marker_color="#4c78a8",
        )
    )
    objectives = [
        row["objective"]
        for _, r in got
        for row in r.get("rows", [])
        if row.get("critical") and row.get("objective")
    ]
    if objectives:
        fig.add_hline(y=max(objectives), line_dash="dash", line_color="#d62728", annotation_text="objective")
    fig.update_yaxes(tickformat=".3%", range=[min(0.99, *(y for y in fig.data[0].y if y is not None)), 1.0])
    fig.update_xaxes(type="category")
    fig.update_layout(
        title="Platform availability per month (SLA)", height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10}
    )
    st.plotly_chart(fig, key="exec_attainment")


st.title("Executive summary")
month = st.selectbox("Month", months(), key="exec_month")

st.subheader("SLA")
reports: dict[str, dict[str, Any]] = {}
for m in months(MONTHS_SHOWN):
    r = fetch("/reports/sla", slow=True, month=m, format="json")
    if m == month and not explain(r, "SLA report"):
        continue
    reports[m] = r.data if isinstance(r.data, dict) else {}
if month not in months(MONTHS_SHOWN):
    r = fetch("/reports/sla", slow=True, month=month, format="json")
    if explain(r, "SLA report"):
        reports[month] = r.data
report = reports.get(month) or {}
if report:
    summary = report.get("summary") or {}
    c = st.columns(4)
    c[0].metric("Platform availability", fmt((summary.get("platform_availability") or 0) * 100, ".3f", " %"))
    c[1].metric(
        "SLOs met",
        f"{summary.get('slos_met', 0)} / {summary.get('slos_met', 0) + summary.get('slos_missed', 0)}",
        help=f"{summary.get('slos_no_data', 0)} without data this month",
    )
    c[2].metric(
        "Downtime minutes", fmt(downtime_minutes(report), ",.1f"), help="bad minutes of critical SLOs"
    )
    c[3].metric(
        "Revenue impact",
        usd(summary.get("revenue_impact_usd")),
        help=f"bad minutes of critical SLOs at {usd(report.get('cost_per_minute_usd'))} per minute; "
        f"SLA credits owed {usd(summary.get('credits_usd'))}",
    )
    attainment_chart(reports)
    rows = [r for r in report.get("rows", []) if not r.get("slice")]
    st.dataframe(
        [
            {
                "SLO": r["id"].removeprefix("streamverse-"),
                "objective": r.get("objective"),
                "attainment": r.get("attainment"),
                "met": r.get("met"),
                "bad minutes": r.get("bad_minutes"),
                "allowance": r.get("allowance_minutes"),
                "critical": bool(r.get("critical")),
                "revenue impact": r.get("revenue_impact_usd") if r.get("critical") else None,
            }
            for r in rows
        ],
        hide_index=True,
        column_config={
            "objective": st.column_config.NumberColumn(format="percent"),
            "attainment": st.column_config.NumberColumn(format="percent"),
            "bad minutes": st.column_config.NumberColumn(format="%.1f"),
            "allowance": st.column_config.NumberColumn(format="%.1f"),
            "revenue impact": st.column_config.NumberColumn(format="dollar"),
        },
    )
    st.caption(
        "Revenue impact counts the bad minutes of critical SLOs (those an outage means); others are blank."
    )
    if report.get("problems"):
        st.caption("Report notes: " + "; ".join(str(p) for p in report["problems"]))

st.subheader("Cost")
cost = fetch("/costs/summary", slow=True, month=month)
if explain(cost, "Cost summary"):
    data = cost.data
    total = (data.get("forecast") or {}).get("total") or {}
    c = st.columns(4)
    c[0].metric("Spend so far", usd(data.get("total_usd"), compact=True), help=usd(data.get("total_usd")))
    c[1].metric(
        "Forecast at month end", usd(total.get("point_usd"), compact=True), help=usd(total.get("point_usd"))
    )
    c[2].metric(
        "Savings identified", usd(data.get("savings_total_usd"), compact=True), help="per month, estimated"
    )
    per_hour = (data.get("unit_costs") or {}).get("usd_per_streamed_hour")
    c[3].metric("Cost per streamed hour", "—" if per_hour is None else f"${per_hour:,.3f}")
    over = [
        b for b in data.get("budgets") or [] if (b.get("forecast_usd") or 0) > (b.get("budget_usd") or 1e300)
    ]
    if over:
        st.warning(
            "Forecast over budget: "
            + ", ".join(f"{b['category']}" for b in over)
            + ". The Costs page has the detail.",
            icon=":material/savings:",
        )

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
