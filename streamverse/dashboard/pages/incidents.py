"""Alerts and incidents: live lists, acknowledge and silence, runbooks with dry run, approval and status."""

from __future__ import annotations

import streamlit as st

from streamverse.client import ControlClient
from streamverse.client.models import Alert, RunPlan, TimelineEvent
from streamverse.dashboard.connection import act, fetch, has_role
from streamverse.dashboard.widgets import explain, guarded


def show_plan(plan: RunPlan) -> None:
    """The dry-run plan as a reader needs it: the steps, the blast radius, whether approval is needed."""
    if plan.steps:
        st.markdown("**Steps**\n" + "\n".join(f"{i}. `{step}`" for i, step in enumerate(plan.steps, 1)))
    if plan.changes:
        st.markdown("**Changes**")
        st.dataframe([{k: str(v) for k, v in change.items()} for change in plan.changes], hide_index=True)
    if plan.blast_radius:
        st.markdown("**Blast radius**")
        st.dataframe(
            [
                {
                    "what": k.replace("_", " "),
                    "value": ", ".join(map(str, v)) if isinstance(v, list) else str(v),
                }
                for k, v in plan.blast_radius.items()
            ],
            hide_index=True,
        )
    if plan.needs_approval or plan.high_blast:
        st.warning(
            "High blast radius: after you run it, a second responder must approve.", icon=":material/group:"
        )
    st.caption(f"Playbook: {plan.playbook}")
    with st.expander("The plan as the API returned it"):
        st.json(plan.model_dump(mode="json"), expanded=False)


def events_table(events: list[TimelineEvent]) -> None:
    """A timeline as a table: when, what, who, and the message."""
    st.dataframe(
        [{"at": e.at, "kind": e.kind, "author": e.author, "message": e.message} for e in events],
        hide_index=True,
    )


st.title("Alerts & incidents")
responder = has_role("responder")
if not responder:
    st.caption("Read-only: acknowledging, silencing and running runbooks need the responder role.")


@st.fragment(run_every=10)
@guarded
def alerts() -> None:
    """Firing alerts and silences."""
    st.subheader("Alerts")
    reply = fetch(ControlClient.alerts)
    if explain(reply, "Alerts"):
        rows = reply.data or []
        if not rows:
            st.caption("No alerts.")
        firing = [a for a in rows if a.status != "resolved"]
        resolved = [a for a in rows if a.status == "resolved"]
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


def alert_row(a: Alert, *, actions: bool = True) -> None:
    """One alert in a line: name, state, severity, where, summary; Ack for responders."""
    where = ", ".join(f"{k}={a.labels[k]}" for k in WHERE if k in a.labels)
    state = a.status
    if a.acked_by:
        state += f", acked by {a.acked_by}"
    if a.silenced_by:
        state += ", silenced"
    summary = a.annotations.get("summary") or ""
    c1, c2 = st.columns([6, 1])
    c1.markdown(
        f"**{a.name}** · {state} · `{a.labels.get('severity', '?')}`"
        + (f" · {where}" if where else "")
        + (f"  \n{summary}" if summary else "")
    )
    if actions and responder and not a.acked_by and c2.button("Ack", key=f"ack_alert_{a.fingerprint}"):
        _, err = act(ControlClient.ack_alert, a.fingerprint)
        st.error(err.detail) if err else st.toast("Acknowledged")


alerts()
if responder:
    with st.expander("Silence alerts"):
        with st.form("silence"):
            matchers = st.text_input("Matchers (comma separated)", placeholder='alertname="HighErrorRate"')
            duration = st.text_input("For", value="1h")
            comment = st.text_input("Why")
            if st.form_submit_button("Silence"):
                _, err = act(
                    ControlClient.create_silence,
                    matchers=[m.strip() for m in matchers.split(",") if m.strip()],
                    duration=duration,
                    comment=comment,
                )
                st.error(err.detail) if err else st.success("Silenced.")

st.subheader("Incidents")
reply = fetch(ControlClient.incidents, limit=50)
if explain(reply, "Incidents"):
    incidents = reply.data or []
    if not incidents:
        st.caption("No incidents.")
    else:
        st.dataframe(
            [
                {
                    "id": i.id,
                    "title": i.title,
                    "severity": i.severity,
                    "status": i.status,
                    "started_at": i.started_at,
                    "commander": i.commander,
                }
                for i in incidents
            ],
            hide_index=True,
        )
        by_id = {i.id: i for i in incidents}
        chosen = st.selectbox(
            "Open incident",
            list(by_id),
            key="incident_pick",
            format_func=lambda i: f"#{i} {by_id[i].title}",
        )
        inc = by_id[chosen]
        st.markdown(f"### #{inc.id} {inc.title}\n{inc.severity} · **{inc.status}**")
        if responder and inc.status == "triggered" and st.button("Acknowledge", key="ack_incident"):
            _, err = act(ControlClient.ack_incident, chosen)
            st.error(err.detail) if err else st.rerun()
        timeline = fetch(ControlClient.incident_timeline, chosen)
        if explain(timeline, "Timeline"):
            events_table(timeline.data or [])
        if responder:
            with st.form("note"):
                note = st.text_input("Add a note")
                if st.form_submit_button("Add note") and note.strip():
                    _, err = act(ControlClient.add_note, chosen, note.strip())
                    st.error(err.detail) if err else st.rerun()
            st.markdown("#### Runbooks")
            books = fetch(ControlClient.runbooks)
            names = [b.name for b in books.data or []]
            c1, c2 = st.columns(2)
            book = c1.selectbox("Runbook", names or ["region-failover"], key="runbook_pick")
            first_alert = inc.alerts[0].labels.get("region", "") if inc.alerts else ""
            target = c2.text_input("Target", key="runbook_target", value=first_alert)
            if st.button("Dry run", key="dry_run"):
                plan, err = act(ControlClient.plan_runbook, book, target=target, incident_id=chosen)
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
                        ControlClient.request_run,
                        plan_state["book"],
                        target=plan_state["target"],
                        incident_id=chosen,
                    )
                    if err or run is None:
                        st.error(f"Not started: {err.detail if err else 'no answer'}")
                    else:
                        st.session_state["run_id"] = run.id
                        st.session_state["plan"] = None
                        st.rerun()


@st.fragment(run_every=2)
@guarded
def run_status() -> None:
    """The requested run, live: paused for approval, running, succeeded or failed."""
    run_id = st.session_state.get("run_id")
    if not run_id:
        return
    reply = fetch(ControlClient.run, run_id)
    if explain(reply, f"Run {run_id}") and reply.data is not None:
        run = reply.data
        st.info(
            f"Run #{run_id} `{run.runbook}` on `{run.target}`: **{run.status}** ({run.phase})"
            + (f" · {run.outcome}" if run.outcome else "")
        )
        if run.status in ("awaiting_approval", "pending_approval") and responder:
            st.caption("High blast radius: a second responder must approve.")
            if st.button("Approve", key="approve_run"):
                _, err = act(ControlClient.approve_run, run_id)
                st.error(err.detail) if err else st.toast("Approved")
        events_table(run.events)


run_status()
