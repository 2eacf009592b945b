"""Costs: the month's breakdown, trend, forecast and savings."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ControlClient
from streamverse.client.reports import CostSummary
from streamverse.dashboard.connection import fetch_slow
from streamverse.dashboard.widgets import bars, explain, months, usd


def trend_chart(data: CostSummary) -> None:
    """Daily spend stacked by category, then the forecast to month end with its range."""
    daily = data.daily
    forecast = data.forecast.total.daily_forecast if data.forecast.total is not None else []
    if not daily and not forecast:
        st.caption("Daily trend: no data this month.")
        return
    fig = go.Figure()
    cats = sorted({c for d in daily for c in d.by_category})
    for c in cats:
        fig.add_trace(go.Bar(x=[d.day for d in daily], y=[d.by_category.get(c, 0) for d in daily], name=c))
    if forecast:
        fig.add_trace(
            go.Scatter(
                x=[f.day for f in forecast],
                y=[f.usd for f in forecast],
                mode="lines+markers",
                name="forecast",
                line={"dash": "dash", "color": "#333"},
            )
        )
    fig.update_layout(
        barmode="stack",
        title="Daily spend by category, and the forecast to month end",
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h"},
    )
    fig.update_yaxes(tickprefix="$", tickformat="~s")
    st.plotly_chart(fig, key="cost_trend")


st.title("Costs")
month = st.selectbox("Month", months(), key="cost_month")
reply = fetch_slow(ControlClient.cost_summary, month=month)
if explain(reply, "Cost summary") and reply.data is not None:
    data = reply.data
    total = data.forecast.total
    unit = data.unit_costs
    c = st.columns(4)
    c[0].metric(
        "Spend this month so far",
        usd(data.total_usd),
        help=f"{data.period.start:%Y-%m-%d %H:%M} to {data.period.end:%Y-%m-%d %H:%M} UTC",
    )
    c[1].metric(
        "Forecast at month end",
        usd(total.point_usd if total else None),
        help=f"{total.method}: {usd(total.low_usd)} to {usd(total.high_usd)}" if total else "no data yet",
    )
    c[2].metric("Savings identified", usd(data.savings_total_usd), help="per month, estimated (below)")
    c[3].metric(
        "Cost per streamed hour",
        f"${unit.usd_per_streamed_hour:,.3f}" if unit.usd_per_streamed_hour else "—",
        help=f"{usd(unit.usd_per_1000_views, cents=True)} per 1,000 views",
    )
    for a in data.alerts:
        st.warning(
            f"**{a.annotations.get('summary', 'budget')}**: {a.annotations.get('description', '')}",
            icon=":material/savings:",
        )
    for n in data.notes:
        st.caption(f"Note: {n}")

    st.subheader("Breakdown")
    left, mid, right = st.columns(3)
    with left:
        priced = {k: v for k, v in data.by_category.items() if v is not None}
        bars(priced, title="By category", key="cost_cat")
    with mid:
        bars(data.by_service, title="By service", key="cost_svc")
    with right:
        bars(data.by_region, title="By region", key="cost_region")
    no_data = [k for k, v in data.by_category.items() if v is None]
    if no_data:
        st.caption(f"No usage data yet for: {', '.join(no_data)}.")

    st.subheader("Trend and forecast")
    trend_chart(data)
    if data.budgets:
        st.dataframe(
            [
                {
                    "category": b.category,
                    "budget": b.budget_usd,
                    "to date": b.to_date_usd,
                    "forecast": b.forecast_usd,
                    "over budget": (b.forecast_usd or 0) > b.budget_usd,
                }
                for b in data.budgets
            ],
            hide_index=True,
            column_config={
                k: st.column_config.NumberColumn(format="dollar") for k in ("budget", "to date", "forecast")
            },
        )
    for anomaly in data.anomalies:
        st.info(f"Anomaly: {anomaly}", icon=":material/query_stats:")

    st.subheader("Savings")
    if data.savings:
        st.dataframe(
            [
                {"opportunity": x.name, "per month": x.monthly_usd, "status": x.status, "how": x.how}
                for x in sorted(data.savings, key=lambda x: -(x.monthly_usd or 0))
            ],
            hide_index=True,
            column_config={"per month": st.column_config.NumberColumn(format="dollar")},
        )
        with st.expander("Assumptions behind each saving"):
            for x in data.savings:
                st.markdown(f"**{x.name}**")
                st.json(x.assumptions, expanded=False)
    else:
        st.caption("No savings identified this month.")
    with st.expander("Where the numbers come from"):
        st.json(
            data.model_dump(mode="json", include={"sources", "price_catalog", "usage_mapping"}),
            expanded=False,
        )
    st.caption(
        f"Generated at {data.generated_at:%Y-%m-%d %H:%M:%S} UTC; figures are cached for up to a minute."
    )
