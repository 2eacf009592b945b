"""Costs: the month's breakdown, trend, forecast and savings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import explain, fmt


def months(n: int = 6) -> list[str]:
    """This month and the n-1 before it, newest first (YYYY-MM)."""
    now = datetime.now(UTC)
    y, m = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def show_section(name: str, value: Any) -> None:
    """A block of the cost report: tables for lists, a bar chart for flat number maps, JSON otherwise."""
    st.markdown(f"#### {name.replace('_', ' ').capitalize()}")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        st.dataframe(value, use_container_width=True, hide_index=True)
    elif isinstance(value, dict) and value and all(isinstance(v, int | float) for v in value.values()):
        st.bar_chart(value)
    else:
        st.json(value, expanded=False)


st.title("Costs")
month = st.selectbox("Month", months(), key="cost_month")
reply = fetch("/costs/summary", month=month)
if explain(reply, "Cost summary"):
    data = reply.data
    numbers = {k: v for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    cols = st.columns(max(1, min(4, len(numbers))))
    for i, (k, v) in enumerate(list(numbers.items())[:4]):
        cols[i].metric(k.replace("_", " "), fmt(float(v), ",.2f"))
    for key in (
        "breakdown",
        "by_service",
        "by_region",
        "trend",
        "daily",
        "forecast",
        "savings",
        "budgets",
        "unit_costs",
    ):
        if key in data:
            show_section(key, data[key])
    rest = {
        k: v
        for k, v in data.items()
        if k not in numbers
        and k
        not in (
            "breakdown",
            "by_service",
            "by_region",
            "trend",
            "daily",
            "forecast",
            "savings",
            "budgets",
            "unit_costs",
        )
    }
    if rest:
        with st.expander("Everything else in the report"):
            st.json(rest, expanded=False)
