"""SLOs: every objective with its SLI, error budget, burn rates and forecast."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import ago, explain, fmt

# Burn-rate windows in the order people read them, short to long.
WINDOW_ORDER = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "period"]


def slice_text(s: dict[str, Any]) -> str:
    """'region=us-east' for a slice, 'all' for the aggregate."""
    return ", ".join(f"{k}={v}" for k, v in (s.get("slice") or {}).items()) or "all"


def alert_text(s: dict[str, Any]) -> str:
    """page / ticket / ok / no data."""
    if s.get("sli") is None:
        return "no data"
    alerts = s.get("alerts") or {}
    return "page" if alerts.get("page") else "ticket" if alerts.get("ticket") else "ok"


def history_charts(slo_id: str, objective: float) -> None:
    """SLI per hour against the objective, and the error-budget burn-down over the period."""
    reply = fetch(f"/slo/{slo_id}/history")
    if not explain(reply, "SLO history"):
        return
    h = reply.data
    if not any(v is not None for v in h.get("sli", [])):
        st.caption(f"No SLI history to draw: {h.get('message') or 'no events in the period'}.")
        return
    xs = [datetime.fromtimestamp(t, UTC) for t in h["timestamps"]]
    left, right = st.columns(2)
    fig = go.Figure(go.Scatter(x=xs, y=h["sli"], mode="lines", name="SLI per hour"))
    fig.add_hline(
        y=objective,
        line_dash="dash",
        line_color="#d62728",
        annotation_text=f"objective {objective:.3%}",
        annotation_position="bottom right",
    )
    fig.update_layout(
        title="SLI per hour against the objective",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    fig.update_yaxes(tickformat=".2%")
    left.plotly_chart(fig, key="slo_sli")
    fig = go.Figure(go.Scatter(x=xs, y=h["budget_left"], mode="lines", fill="tozeroy", name="budget left"))
    fig.add_hline(y=0, line_color="#d62728")
    fig.update_layout(
        title="Error budget left over the period (burn-down)",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    fig.update_yaxes(tickformat=".0%")
    right.plotly_chart(fig, key="slo_burndown")


def burn_chart(s: dict[str, Any]) -> None:
    """Burn rate per window with the multiwindow alert thresholds."""
    burn = s.get("burn_rate") or {}
    wins = [w for w in WINDOW_ORDER if w in burn] + [w for w in burn if w not in WINDOW_ORDER]
    fig = go.Figure(go.Bar(x=wins, y=[burn[w] for w in wins], marker_color="#4c78a8"))
    for factor, colour in ((14.4, "#d62728"), (6.0, "#ff7f0e"), (1.0, "#9e9e9e")):
        fig.add_hline(y=factor, line_dash="dot", line_color=colour, annotation_text=f"{factor:g}x")
    fig.update_layout(
        title="Burn rate per window (1 = spending the budget exactly over the period)",
        height=280,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis_title="burn rate",
    )
    st.plotly_chart(fig, key="slo_burn")


st.title("Service level objectives")
reply = fetch("/slo")
if explain(reply, "SLOs"):
    slos = reply.data.get("slos", [])
    at = reply.data.get("at")
    if at:
        age = datetime.now(UTC).timestamp() - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        st.caption(f"Evaluated at {at} ({ago(max(age, 0))} ago) from the {reply.data.get('backend')} store.")
    problems = reply.data.get("errors") or []
    if problems:
        n = len({p["id"] for p in problems})
        with st.expander(f"{n} SLO(s) cannot be evaluated fully", expanded=False):
            for p in problems:
                st.markdown(f"- **{p['id']}** ({p.get('file', '?')}:{p.get('line', '?')}): {p['message']}")
    rows = [
        {
            "SLO": s["id"].removeprefix("streamverse-"),
            "slice": slice_text(s),
            "SLI": s.get("sli"),
            "objective": s.get("objective"),
            "budget left": (s.get("error_budget") or {}).get("remaining_ratio"),
            "burn 1h": (s.get("burn_rate") or {}).get("1h"),
            "alert": alert_text(s),
            "budget exhausts": "spent"
            if ((s.get("error_budget") or {}).get("remaining_ratio") or 0) < 0
            else s.get("exhausts_at") or "",
        }
        for s in slos
    ]
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "SLI": st.column_config.NumberColumn(format="percent"),
            "objective": st.column_config.NumberColumn(format="percent"),
            "budget left": st.column_config.NumberColumn(format="percent"),
            "burn 1h": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    ids = list(dict.fromkeys(s["id"] for s in slos))
    if ids:
        worst = min(
            (s for s in slos if not s.get("slice") and s.get("sli") is not None),
            key=lambda s: (s.get("error_budget") or {}).get("remaining_ratio", 1.0),
            default=None,
        )
        pick = st.selectbox(
            "SLO",
            ids,
            index=ids.index(worst["id"]) if worst else 0,
            key="slo_pick",
            format_func=lambda i: i.removeprefix("streamverse-"),
        )
        s = next(x for x in slos if x["id"] == pick and not x.get("slice"))
        budget = s.get("error_budget") or {}
        if s.get("description"):
            st.caption(s["description"])
        c = st.columns(5)
        c[0].metric(
            "SLI",
            fmt(None if s.get("sli") is None else s["sli"] * 100, ".3f", " %"),
            help=f"over the period ({s.get('window')}, {s.get('budgeting')})",
        )
        c[1].metric("Objective", fmt(s.get("objective", 0) * 100, ".3f", " %"))
        c[2].metric(
            "Budget left",
            fmt(
                None if budget.get("remaining_ratio") is None else budget["remaining_ratio"] * 100,
                ",.1f",
                " %",
            ),
        )
        c[3].metric(
            "Budget minutes left",
            fmt(budget.get("remaining_minutes"), ",.1f"),
            help=f"of {fmt(budget.get('allowed_minutes'), ',.1f')} allowed in the period",
        )
        c[4].metric("Alert", alert_text(s))
        history_charts(pick, float(s.get("objective") or 0.0))
        burn_chart(s)
        policy = s.get("policy") or {}
        rule = f"Policy: {policy.get('state', '?')} — {policy.get('action', '')}."
        if (budget.get("remaining_ratio") or 0) < 0:
            st.error(f"The error budget is already spent. {rule}", icon=":material/block:")
        elif s.get("exhausts_at"):
            st.warning(
                f"At the current burn rate the error budget runs out at **{s['exhausts_at']}**. {rule}",
                icon=":material/hourglass_bottom:",
            )
        else:
            st.success(f"No exhaustion forecast at the current burn rate. {rule}", icon=":material/check:")
