"""Alerts and incidents: live lists, acknowledge and silence, runbooks with dry run, approval and status."""

from __future__ import annotations

from typing import Any

import streamlit as st

from streamverse.dashboard.connection import act, fetch, has_role
from streamverse.dashboard.widgets import explain, guarded


def show_plan(plan: Any) -> None:
    """The dry-run plan as a reader needs it: the steps, the blast radius, whether approval is needed."""
    if not isinstance(plan, dict):
        st.json(plan, expanded=True)
        return
    steps = plan.get("steps") or []
    if steps:
        st.markdown("**Steps**\n" + "\n".join(f"{i}. `{step}`" for i, step in enumerate(steps, 1)))
    for key, value in plan.items():
        if isinstance(value, dict) and value and key != "params":
            st.markdown(f"**{key.replace('_', ' ').capitalize()}**")
            st.dataframe(
                [
                    {
                        "what": k.replace("_", " "),
                        "value": ", ".join(map(str, v)) if isinstance(v, list) else str(v),
                    }
                    for k, v in value.items()
                ],
                hide_index=True,
            )
    if plan.get("needs_approval") or plan.get("high_blast"):
        st.warning(
            "High blast radius: after you run it, a second responder must approve.", icon=":material/group:"
        )
    if plan.get("playbook"):
        st.caption(f"Playbook: {plan['playbook']}")
    with st.expander("The plan as the API returned it"):
        st.json(plan, expanded=False)


st.title("Alerts & incidents")
responder = has_role("responder")
if not responder:
    st.caption("Read-only: acknowledging, silencing and running runbooks need the responder role.")


@st.fragment(run_every=10)
@guarded
def alerts() -> None:
    """Firing alerts and silences."""
    st.subheader("Alerts")
    reply = fetch("/alerts")
    if explain(reply, "Alerts"):
        rows: list[dict[str, Any]] = (
            reply.data if isinstance(reply.data, list) else reply.data.get("alerts", [])
        )
        if not rows:
            st.caption("No alerts.")
        firing = [a for a in rows if a.get("status") != "resolved"]
        resolved = [a for a in rows if a.get("status") == "resolved"]
        for a in firing[:50]:
            alert_row(a)
        if len(firing) > 50:
            st.caption(f"... and {len(firing) - 50} more firing.")
        if resolved:
            with st.expander(f"{len(resolved)} resolved"):
                for a in resolved[:50]:
                    alert_row(a, actions=False)


# Labels that say where an alert is; the rest (alertname, sloth_*, owner) repeat what the row shows.
WHERE = ("region", "pop", "target", "video_id", "route", "category")


def alert_row(a: dict[str, Any], *, actions: bool = True) -> None:
    """One alert in a line: name, state, severity, where, summary; Ack for responders."""
    labels = a.get("labels") or {}
    where = ", ".join(f"{k}={labels[k]}" for k in WHERE if k in labels)
    state = a.get("status", "")
    if a.get("acked_by"):
        state += f", acked by {a['acked_by']}"
    if a.get("silenced_by"):
        state += ", silenced"
    summary = (a.get("annotations") or {}).get("summary") or ""
    c1, c2 = st.columns([6, 1])
    c1.markdown(
        f"**{a.get('name', labels.get('alertname', '?'))}** · {state} · `{labels.get('severity', '?')}`"
        + (f" · {where}" if where else "")
        + (f"  \n{summary}" if summary else "")
    )
    fp = a.get("fingerprint")
    if actions and responder and fp and not a.get("acked_by") and c2.button("Ack", key=f"ack_alert_{fp}"):
        _, err = act("POST", f"/alerts/{fp}/ack")
        st.error(err.detail) if err else st.toast("Acknowledged")


alerts()
if responder:
    with st.expander("Silence alerts"):
        with st.form("silence"):
            matchers = st.text_input("Matchers (comma separated)", placeholder='alertname="HighErrorRate"')
            duration = st.text_input("For", value="1h")
            comment = st.text_input("Why")
            if st.form_submit_button("Silence"):
                body = {
                    "matchers": [m.strip() for m in matchers.split(",") if m.strip()],
                    "duration": duration,
                    "comment": comment,
                }
                _, err = act("POST", "/silences", body)
                st.error(err.detail) if err else st.success("Silenced.")

st.subheader("Incidents")
reply = fetch("/incidents", limit=50)
if explain(reply, "Incidents"):
    incidents = reply.data or []
    if not incidents:
        st.caption("No incidents.")
    else:
        st.dataframe(
            [
                {k: i.get(k) for k in ("id", "title", "severity", "status", "started_at", "commander")}
                for i in incidents
            ],
            hide_index=True,
        )
        chosen = st.selectbox(
            "Open incident",
            [i["id"] for i in incidents],
            key="incident_pick",
            format_func=lambda i: next(f"#{x['id']} {x['title']}" for x in incidents if x["id"] == i),
        )
        inc = next(i for i in incidents if i["id"] == chosen)
        st.markdown(f"### #{inc['id']} {inc['title']}\n{inc.get('severity')} · **{inc.get('status')}**")
        if responder and inc.get("status") == "triggered" and st.button("Acknowledge", key="ack_incident"):
            _, err = act("POST", f"/incidents/{chosen}/ack")
            st.error(err.detail) if err else st.rerun()
        timeline = fetch(f"/incidents/{chosen}/timeline")
        if explain(timeline, "Timeline"):
            st.dataframe(
                [{k: e.get(k) for k in ("at", "kind", "author", "message")} for e in timeline.data],
                hide_index=True,
            )
        if responder:
            with st.form("note"):
                note = st.text_input("Add a note")
                if st.form_submit_button("Add note") and note.strip():
                    _, err = act("POST", f"/incidents/{chosen}/notes", {"message": note.strip()})
                    st.error(err.detail) if err else st.rerun()
            st.markdown("#### Runbooks")
            books = fetch("/runbooks")
            names: list[str] = []
            if books.data:
                raw = books.data if isinstance(books.data, list) else books.data.get("runbooks", [])
                names = [b["name"] if isinstance(b, dict) else str(b) for b in raw]
            c1, c2 = st.columns(2)
            book = c1.selectbox("Runbook", names or ["failover"], key="runbook_pick")
            target = c2.text_input(
                "Target",
                key="runbook_target",
                value=(inc.get("alerts") or [{}])[0].get("labels", {}).get("region", ""),
            )
            if st.button("Dry run", key="dry_run"):
                plan, err = act("POST", f"/runbooks/{book}/plan", {"target": target, "incident_id": chosen})
                st.session_state["plan"] = None if err else {"book": book, "target": target, "plan": plan}
                if err:
                    st.error(f"Dry run refused: {err.detail}")
            plan_state = st.session_state.get("plan")
            if plan_state:
                st.markdown(
                    f"**Dry-run plan** for `{plan_state['book']}` on `{plan_state['target']}` "
                    "(nothing has changed yet):"
                )
                show_plan(plan_state["plan"])
                sure = st.checkbox("I have read the plan and want to run it", key="confirm_run")
                if st.button("Run it", key="run_it", disabled=not sure, type="primary"):
                    run, err = act(
                        "POST",
                        f"/runbooks/{plan_state['book']}/runs",
                        {"target": plan_state["target"], "incident_id": chosen},
                    )
                    if err:
                        st.error(f"Not started: {err.detail}")
                    else:
                        st.session_state["run_id"] = run["id"]
                        st.session_state["plan"] = None
                        st.rerun()


@st.fragment(run_every=2)
@guarded
def run_status() -> None:
    """The requested run, live: paused for approval, running, succeeded or failed."""
    run_id = st.session_state.get("run_id")
    if not run_id:
        return
    reply = fetch(f"/runs/{run_id}")
    if explain(reply, f"Run {run_id}"):
        run = reply.data
        st.info(
            f"Run #{run_id} `{run['runbook']}` on `{run['target']}`: **{run['status']}** ({run.get('phase')})"
            + (f" · {run['outcome']}" if run.get("outcome") else "")
        )
        if run["status"] in ("awaiting_approval", "pending_approval") and responder:
            st.caption("High blast radius: a second responder must approve.")
            if st.button("Approve", key="approve_run"):
                _, err = act("POST", f"/runs/{run_id}/approve")
                st.error(err.detail) if err else st.toast("Approved")
        st.dataframe(
            [{k: e.get(k) for k in ("at", "kind", "author", "message")} for e in run.get("events", [])],
            hide_index=True,
        )


run_status()
