"""Executive: SLA attainment per month, downtime, revenue impact and cost, with the reports to download."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ApiError, ControlClient, Download
from streamverse.client.reports import SlaReport
from streamverse.dashboard.connection import client, fetch_slow
from streamverse.dashboard.widgets import explain, fmt, months, usd

MONTHS_SHOWN = 3


def downtime_minutes(report: SlaReport) -> float:
    """Bad minutes of the critical SLOs, aggregates only (slices would count the same minute twice)."""
    return sum(r.bad_minutes or 0.0 for r in report.rows if r.critical and not r.slice)


def attainment_chart(reports: dict[str, SlaReport]) -> None:
    """Platform availability per month against the strictest critical objective."""
    got = sorted(reports.items())
    if not got:
        return
    fig = go.Figure(
        go.Bar(
            x=[m for m, _ in got],
            y=[r.summary.platform_availability for _, r in got],
            text=[f"{r.summary.slos_met} SLOs met" for _, r in got],
            marker_color="#4c78a8",
        )
    )
    objectives = [row.objective for _, r in got for row in r.rows if row.critical and row.objective]
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
reports: dict[str, SlaReport] = {}
for m in months(MONTHS_SHOWN):
    r = fetch_slow(ControlClient.sla_report, month=m)
    if m == month and not explain(r, "SLA report"):
        continue
    if r.data is not None:
        reports[m] = r.data
if month not in months(MONTHS_SHOWN):
    r = fetch_slow(ControlClient.sla_report, month=month)
    if explain(r, "SLA report") and r.data is not None:
        reports[month] = r.data
report = reports.get(month)
if report is not None:
    summary = report.summary
    c = st.columns(4)
    c[0].metric("Platform availability", fmt((summary.platform_availability or 0) * 100, ".3f", " %"))
    c[1].metric(
        "SLOs met",
        f"{summary.slos_met} / {summary.slos_met + summary.slos_missed}",
        help=f"{summary.slos_no_data} without data this month",
    )
    c[2].metric(
        "Downtime minutes", fmt(downtime_minutes(report), ",.1f"), help="bad minutes of critical SLOs"
    )
    c[3].metric(
        "Revenue impact",
        usd(summary.revenue_impact_usd),
        help=f"bad minutes of critical SLOs at {usd(report.cost_per_minute_usd)} per minute; "
        f"SLA credits owed {usd(summary.credits_usd)}",
    )
    attainment_chart(reports)
    rows = [r for r in report.rows if not r.slice]
    st.dataframe(
        [
            {
                "SLO": r.id.removeprefix("streamverse-"),
                "objective": r.objective,
                "attainment": r.attainment,
                "met": r.met,
                "bad minutes": r.bad_minutes,
                "allowance": r.allowance_minutes,
                "critical": r.critical,
                "revenue impact": r.revenue_impact_usd if r.critical else None,
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
    if report.problems:
        st.caption("Report notes: " + "; ".join(str(p) for p in report.problems))

st.subheader("Cost")
cost = fetch_slow(ControlClient.cost_summary, month=month)
if explain(cost, "Cost summary") and cost.data is not None:
    data = cost.data
    total = data.forecast.total
    point = total.point_usd if total else None
    c = st.columns(4)
    c[0].metric("Spend so far", usd(data.total_usd, compact=True), help=usd(data.total_usd))
    c[1].metric("Forecast at month end", usd(point, compact=True), help=usd(point))
    c[2].metric("Savings identified", usd(data.savings_total_usd, compact=True), help="per month, estimated")
    per_hour = data.unit_costs.usd_per_streamed_hour
    c[3].metric("Cost per streamed hour", "—" if per_hour is None else f"${per_hour:,.3f}")
    over = [b for b in data.budgets if (b.forecast_usd or 0) > b.budget_usd]
    if over:
        st.warning(
            f"Forecast over budget: {', '.join(b.category for b in over)}. The Costs page has the detail.",
            icon=":material/savings:",
        )

st.subheader("Reports")
DOWNLOADS: list[tuple[str, str, Callable[..., Download]]] = [
    ("SLA report", "sla", ControlClient.download_sla_report),
    ("Cost report", "cost", ControlClient.download_cost_report),
]
for label, short, fetch_file in DOWNLOADS:
    cols = st.columns(2)
    for i, fmt_ in enumerate(("html", "pdf")):
        key = f"dl_{short}_{fmt_}_{month}"
        if cols[i].button(f"Prepare {label} ({fmt_.upper()})", key=f"prep_{key}"):
            try:
                st.session_state[key] = fetch_file(client(), month=month, fmt=fmt_)
            except ApiError as exc:
                st.session_state[key] = None
                if exc.status == 404:
                    st.info(f"{label}: not available yet (this control API has no such report).")
                else:
                    st.error(f"{label}: {exc.detail}")
        got: Download | None = st.session_state.get(key)
        if got:
            cols[i].download_button(
                f"Download {label} ({fmt_.upper()})",
                got.content,
                file_name=got.filename,
                mime=got.content_type,
                key=f"save_{key}",
            )
