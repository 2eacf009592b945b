"""Costs: the month's breakdown, trend, forecast and savings."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import bars, explain, months, usd


def trend_chart(data: dict[str, Any]) -> None:
    """Daily spend stacked by category, then the forecast to month end with its range."""
    daily = data.get("daily") or []
    forecast = ((data.get("forecast") or {}).get("total") or {}).get("daily_forecast") or []
    if not daily and not forecast:
        st.caption("Daily trend: no data this month.")
        return
    fig = go.Figure()
    cats = sorted({c for d in daily for c in (d.get("by_category") or {})})
    for c in cats:
        fig.add_trace(
            go.Bar(
                x=[d["day"] for d in daily], y=[(d.get("by_category") or {}).get(c, 0) for d in daily], name=c
            )
        )
    if forecast:
        fig.add_trace(
            go.Scatter(
                x=[f["day"] for f in forecast],
                y=[f["usd"] for f in forecast],
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
reply = fetch("/costs/summary", slow=True, month=month)
if explain(reply, "Cost summary"):
    data = reply.data
    total = (data.get("forecast") or {}).get("total") or {}
    unit = data.get("unit_costs") or {}
    c = st.columns(4)
    c[0].metric(
        "Spend this month so far",
        usd(data.get("total_usd")),
        help=f"{(data.get('period') or {}).get('start', '')} to {(data.get('period') or {}).get('end', '')}",
    )
    c[1].metric(
        "Forecast at month end",
        usd(total.get("point_usd")),
        help=f"{total.get('method', '')}: {usd(total.get('low_usd'))} to {usd(total.get('high_usd'))}",
    )
    c[2].metric("Savings identified", usd(data.get("savings_total_usd")), help="per month, estimated (below)")
    c[3].metric(
        "Cost per streamed hour",
        f"${unit['usd_per_streamed_hour']:,.3f}" if unit.get("usd_per_streamed_hour") else "—",
        help=f"{usd(unit.get('usd_per_1000_views'), cents=True)} per 1,000 views",
    )
    for a in data.get("alerts") or []:
        note = a.get("annotations") or {}
        st.warning(
            f"**{note.get('summary', 'budget')}**: {note.get('description', '')}", icon=":material/savings:"
        )
    for n in data.get("notes") or []:
        st.caption(f"Note: {n}")

    st.subheader("Breakdown")
    left, mid, right = st.columns(3)
    with left:
        bars({k: v for k, v in (data.get("by_category") or {}).items()}, title="By category", key="cost_cat")
    with mid:
        bars(data.get("by_service") or {}, title="By service", key="cost_svc")
    with right:
        bars(data.get("by_region") or {}, title="By region", key="cost_region")
    no_data = [k for k, v in (data.get("by_category") or {}).items() if not isinstance(v, int | float)]
    if no_data:
        st.caption(f"No usage data yet for: {', '.join(no_data)}.")

    st.subheader("Trend and forecast")
    trend_chart(data)
    budgets = data.get("budgets") or []
    if budgets:
        st.dataframe(
            [
                {
                    "category": b.get("category"),
                    "budget": b.get("budget_usd"),
                    "to date": b.get("to_date_usd"),
                    "forecast": b.get("forecast_usd"),
                    "over budget": (b.get("forecast_usd") or 0) > (b.get("budget_usd") or float("inf")),
                }
                for b in budgets
            ],
            hide_index=True,
            column_config={
                k: st.column_config.NumberColumn(format="dollar") for k in ("budget", "to date", "forecast")
            },
        )
    for a in data.get("anomalies") or []:
        st.info(f"Anomaly: {a}", icon=":material/query_stats:")

    st.subheader("Savings")
    savings = data.get("savings") or []
    if savings:
        st.dataframe(
            [
                {
                    "opportunity": s.get("name"),
                    "per month": s.get("monthly_usd"),
                    "status": s.get("status"),
                    "how": s.get("how"),
                }
                for s in sorted(savings, key=lambda s: -(s.get("monthly_usd") or 0))
            ],
            hide_index=True,
            column_config={"per month": st.column_config.NumberColumn(format="dollar")},
        )
        with st.expander("Assumptions behind each saving"):
            for s in savings:
                st.markdown(f"**{s.get('name')}**")
                st.json(s.get("assumptions") or {}, expanded=False)
    else:
        st.caption("No savings identified this month.")
    with st.expander("Where the numbers come from"):
        st.json(
            {k: data.get(k) for k in ("sources", "price_catalog", "usage_mapping") if k in data},
            expanded=False,
        )
    st.caption(f"Generated at {data.get('generated_at', '?')}; figures are cached for up to a minute.")
