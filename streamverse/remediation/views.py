"""Runbook and run routes: viewers read, responders act; a run's approver is never its requester."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from sqlmodel import Session, col, select

from streamverse.api.deps import ResponderDep, SessionDep, ViewerDep
from streamverse.api.service import actor_for
from streamverse.errors import StreamVerseError
from streamverse.incidents import service as incidents
from streamverse.incidents.models import TimelineEventRead
from streamverse.incidents.service import InvalidTransition
from streamverse.remediation.control import ControlError
from streamverse.remediation.enums import RunStatus
from streamverse.remediation.flows import ApprovalError, Remediator
from streamverse.remediation.guardrails import GuardrailError
from streamverse.remediation.models import RunbookRun, RunbookRunCreate, RunbookRunRead
from streamverse.remediation.runbooks import RUNBOOKS, get_runbook

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
log = logging.getLogger("streamverse.remediation")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On start-up, reconcile runs a crash left running, in the background so serving starts at once."""
    remediator = getattr(app.state, "remediator", None)
    if remediator is not None and getattr(app.state, "reconcile_on_start", True):
        threading.Thread(
            target=_reconcile_quietly, args=(remediator,), daemon=True, name="runbook-reconcile"
        ).start()
    yield


def _reconcile_quietly(remediator: Remediator) -> None:
    try:
        remediator.reconcile()
    except Exception:  # a platform that is down must not stop the control plane from starting
        log.exception("reconciling runbook runs failed")


router = APIRouter(tags=["runbooks"], lifespan=_lifespan)


def _remediator(request: Request) -> Remediator:
    """The app's remediator, made by the composition root (tests may swap it)."""
    return request.app.state.remediator


RemediatorDep = Annotated[Remediator, Depends(_remediator)]


def _raise(exc: StreamVerseError) -> None:
    if isinstance(exc, GuardrailError):
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": str(exc), "run_id": exc.run_id}) from None
    if isinstance(exc, ApprovalError):
        code = 403 if "different person" in str(exc) else (404 if str(exc).startswith("no run") else 409)
        raise HTTPException(code, str(exc)) from None
    if isinstance(exc, InvalidTransition):
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if isinstance(exc, ControlError):
        code = exc.status_code if exc.status_code in (400, 404, 422, 503) else 502
        raise HTTPException(code, str(exc)) from None
    raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


def _run_read(rem: Remediator, run: RunbookRun) -> RunbookRunRead:
    with Session(rem.engine) as s:
        events = [
            TimelineEventRead.model_validate(e.model_dump())
            for e in incidents.run_events(session=s, run_id=run.id)
        ]
    return RunbookRunRead.model_validate(
        {
            **run.model_dump(),
            "events": events,
            "playbook": RUNBOOKS[run.runbook].playbook if run.runbook in RUNBOOKS else None,
        }
    )


# -- runbooks and runs ---------------------------------------------------------------------------
@router.get("/runbooks", summary="The runbooks, with links to their playbooks")
def list_runbooks(_t: ViewerDep) -> list[dict[str, Any]]:
    """Every runbook the control plane can run."""
    return [rb.describe() for rb in RUNBOOKS.values()]


@router.get(
    "/runbooks/{name}/playbook", response_class=PlainTextResponse, summary="A runbook's playbook page"
)
def playbook(name: str, _t: ViewerDep) -> str:
    """The human playbook (Markdown): when to use it, what it changes, how to verify and roll back."""
    if name not in RUNBOOKS:
        raise HTTPException(404, f"unknown runbook {name!r}; choose one of {sorted(RUNBOOKS)}")
    path = DOCS_DIR / f"{name}.md"
    if not path.exists():
        raise HTTPException(404, f"the playbook is in the repository at {RUNBOOKS[name].playbook}")
    return path.read_text()


@router.post("/runbooks/{name}/plan", summary="Dry run: exact changes and blast radius (responder)")
def plan_run(name: str, body: RunbookRunCreate, rem: RemediatorDep, _t: ResponderDep) -> dict[str, Any]:
    """What the run would change; nothing is changed."""
    try:
        get_runbook(name)
        return rem.plan(runbook=name, target=body.target, params=body.params)
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.post(
    "/runbooks/{name}/runs",
    response_model=RunbookRunRead,
    status_code=201,
    summary="Request a run (responder); send Idempotency-Key to make retries safe",
)
def request_run(
    name: str,
    body: RunbookRunCreate,
    request: Request,
    response: Response,
    rem: RemediatorDep,
    session: SessionDep,
    token: ResponderDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunbookRunRead:
    """Start a run, or pause it for approval when its blast is high; a repeat gets the same run (200)."""
    request.state.audit_target = {"runbook": name, "target": body.target, "params": body.params}
    session.commit()  # release the token check's write before the remediator writes (one SQLite writer)
    try:
        get_runbook(name)
        run, created = rem.request(
            runbook=name,
            target=body.target,
            params=body.params,
            requested_by=actor_for(token),
            idempotency_key=idempotency_key,
            incident_id=body.incident_id,
        )
    except StreamVerseError as exc:
        _raise(exc)
        raise
    if not created:
        response.status_code = 200
    return _run_read(rem, run)


@router.get("/runs", response_model=list[RunbookRunRead], summary="Runbook runs, newest first")
def list_runs(
    rem: RemediatorDep, _t: ViewerDep, status_: RunStatus | None = None, limit: int = 100
) -> list[RunbookRunRead]:
    """Runs with their audit trails."""
    with Session(rem.engine) as s:
        stmt = select(RunbookRun)
        if status_ is not None:
            stmt = stmt.where(RunbookRun.status == status_.value)
        runs = list(s.exec(stmt.order_by(col(RunbookRun.id).desc()).limit(min(limit, 1000))))
    return [_run_read(rem, r) for r in runs]


@router.get("/runs/{run_id}", response_model=RunbookRunRead, summary="One run and its audit trail")
def get_run(run_id: int, rem: RemediatorDep, _t: ViewerDep) -> RunbookRunRead:
    """Plan, status, approvals, changes, verification and every step."""
    run = rem.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id}")
    return _run_read(rem, run)


@router.post(
    "/runs/{run_id}/approve", response_model=RunbookRunRead, summary="Approve a paused run (responder)"
)
def approve(
    run_id: int, request: Request, rem: RemediatorDep, session: SessionDep, token: ResponderDep
) -> RunbookRunRead:
    """A second person approves; the run starts."""
    request.state.audit_target = {"run_id": run_id, "decision": "approve"}
    session.commit()
    try:
        return _run_read(rem, rem.approve(run_id=run_id, approver=actor_for(token)))
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.post(
    "/runs/{run_id}/reject", response_model=RunbookRunRead, summary="Reject a paused run (responder)"
)
def reject(
    run_id: int,
    request: Request,
    rem: RemediatorDep,
    session: SessionDep,
    token: ResponderDep,
    reason: Annotated[str | None, Body(embed=True, max_length=2000)] = None,
) -> RunbookRunRead:
    """The run never starts; the target is free again."""
    request.state.audit_target = {"run_id": run_id, "decision": "reject"}
    session.commit()
    try:
        return _run_read(rem, rem.reject(run_id=run_id, rejecter=actor_for(token), reason=reason))
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.post("/runs/{run_id}/stop", response_model=RunbookRunRead,
             summary="Stop a running gradual run (responder)")
def stop(
    run_id: int, request: Request, rem: RemediatorDep, session: SessionDep, token: ResponderDep
) -> RunbookRunRead:
    """It stops before its next step (a failback holds its current weight); 409 when it is not running."""
    request.state.audit_target = {"run_id": run_id, "decision": "stop"}
    session.commit()
    try:
        return _run_read(rem, rem.request_stop(run_id=run_id, by=actor_for(token)))
    except StreamVerseError as exc:
        _raise(exc)
        raise
