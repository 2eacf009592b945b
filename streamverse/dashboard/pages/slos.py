"""SLOs: every objective with its SLI, error budget, burn rates and forecast."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ControlClient
from streamverse.client.reports import SloState
from streamverse.dashboard.connection import fetch
from streamverse.dashboard.widgets import ago, explain, fmt

# Burn-rate windows in the order people read them, short to long.
WINDOW_ORDER = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "period"]


def slice_text(s: SloState) -> str:
    """'region=us-east' for a slice, 'all' for the aggregate."""
    return ", ".join(f"{k}={v}" for k, v in s.slice.items()) or "all"


def alert_text(s: SloState) -> str:
    """page / ticket / ok / no data."""
    if s.sli is None:
        return "no data"
    return "page" if s.alerts.page else "ticket" if s.alerts.ticket else "ok"


def when(at: datetime | None) -> str:
    """A UTC time as people read it in a table: 2026-11-02 14:05 UTC."""
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def history_charts(slo_id: str, objective: float) -> None:
    """SLI per hour against the objective, and the error-budget burn-down over the period."""
    reply = fetch(ControlClient.slo_history, slo_id)
    if not explain(reply, "SLO history") or reply.data is None:
        return
    h = reply.data
    if not any(v is not None for v in h.sli):
        st.caption(f"No SLI history to draw: {h.message or 'no events in the period'}.")
        return
    xs = [datetime.fromtimestamp(t, UTC) for t in h.timestamps]
    left, right = st.columns(2)
    fig = go.Figure(go.Scatter(x=xs, y=h.sli, mode="lines", name="SLI per hour"))
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
    fig = go.Figure(go.Scatter(x=xs, y=h.budget_left, mode="lines", fill="tozeroy", name="budget left"))
    fig.add_hline(y=0, line_color="#d62728")
    fig.update_layout(
        title="Error budget left over the period (burn-down)",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
    )
    fig.update_yaxes(tickformat=".0%")
    right.plotly_chart(fig, key="slo_burndown")


def burn_chart(s: SloState) -> None:
    """Burn rate per window with the multiwindow alert thresholds."""
    burn = s.burn_rate
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
reply = fetch(ControlClient.slo_status)
if explain(reply, "SLOs") and reply.data is not None:
    status = reply.data
    slos = status.slos
    age = datetime.now(UTC).timestamp() - status.at.timestamp()
    st.caption(f"Evaluated at {when(status.at)} ({ago(max(age, 0))} ago) from the {status.backend} store.")
    if status.errors:
        n = len({p.id for p in status.errors})
        with st.expander(f"{n} SLO(s) cannot be evaluated fully", expanded=False):
            for p in status.errors:
                st.markdown(f"- **{p.id}** ({p.file or '?'}:{p.line or '?'}): {p.message}")
    rows = [
        {
            "SLO": s.id.removeprefix("streamverse-"),
            "slice": slice_text(s),
            "SLI": s.sli,
            "objective": s.objective,
            "budget left": s.error_budget.remaining_ratio,
            "burn 1h": s.burn_rate.get("1h"),
            "alert": alert_text(s),
            "budget exhausts": "spent" if (s.error_budget.remaining_ratio or 0) < 0 else when(s.exhausts_at),
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
    aggregates = {s.id: s for s in slos if not s.slice}
    ids = list(aggregates)
    if ids:
        worst = min(
            (s for s in aggregates.values() if s.sli is not None),
            key=lambda s: 1.0 if s.error_budget.remaining_ratio is None else s.error_budget.remaining_ratio,
            default=None,
        )
        pick = st.selectbox(
            "SLO",
            ids,
            index=ids.index(worst.id) if worst else 0,
            key="slo_pick",
            format_func=lambda i: i.removeprefix("streamverse-"),
        )
        s = aggregates[pick]
        budget = s.error_budget
        if s.description:
            st.caption(s.description)
        c = st.columns(5)
        c[0].metric(
            "SLI",
            fmt(None if s.sli is None else s.sli * 100, ".3f", " %"),
            help=f"over the period ({s.window}, {s.budgeting})",
        )
        c[1].metric("Objective", fmt(s.objective * 100, ".3f", " %"))
        c[2].metric(
            "Budget left",
            fmt(None if budget.remaining_ratio is None else budget.remaining_ratio * 100, ",.1f", " %"),
        )
        c[3].metric(
            "Budget minutes left",
            fmt(budget.remaining_minutes, ",.1f"),
            help=f"of {fmt(budget.allowed_minutes, ',.1f')} allowed in the period",
        )
        c[4].metric("Alert", alert_text(s))
        history_charts(pick, s.objective)
        burn_chart(s)
        rule = f"Policy: {s.policy.state} — {s.policy.action}."
        if (budget.remaining_ratio or 0) < 0:
            st.error(f"The error budget is already spent. {rule}", icon=":material/block:")
        elif s.exhausts_at:
            st.warning(
                f"At the current burn rate the error budget runs out at **{when(s.exhausts_at)}**. {rule}",
                icon=":material/hourglass_bottom:",
            )
        else:
            st.success(f"No exhaustion forecast at the current burn rate. {rule}", icon=":material/check:")
