"""Audit middleware: every state-changing call leaves a record, allowed or refused.

Pure ASGI so it sees the final status of every request, including 401/403 raised by
dependencies and unhandled errors, without buffering the response body.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamverse.api import service
from streamverse.clock import Clock
from streamverse.db import session_scope

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Telemetry ingestion is not an operator action: auditing every beacon batch would bury the
# trail auditors read (and cost a database write per batch at 20,000 beacons/s).
NOT_AUDITED = frozenset({"/api/v1/rum/beacons", "/api/v1/write"})
MAX_BODY_CAPTURE = 16 * 1024  # bodies larger than this are summarised by size only
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_from(traceparent: str | None) -> str | None:
    """The W3C trace id in a `traceparent` header, or None when absent or malformed."""
    if not traceparent:
        return None
    m = _TRACEPARENT.match(traceparent.strip().lower())
    if m is None or m.group(1) == "0" * 32:
        return None
    return m.group(1)


def _summarise_body(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    if len(body) > MAX_BODY_CAPTURE:
        return {"bytes": len(body)}
    if "json" in content_type:
        try:
            parsed = json.loads(body)
        except ValueError:
            return {"bytes": len(body), "invalid_json": True}
        return service.redact(parsed) if isinstance(parsed, dict) else {"json": type(parsed).__name__}
    return {"bytes": len(body)}


class AuditMiddleware:
    """Writes an AuditRecord after each POST/PUT/PATCH/DELETE and tags responses with a trace id."""

    def __init__(self, app: ASGIApp, *, engine_getter: Callable[[], Engine],
                 clock_getter: Callable[[], Clock]) -> None:
        self.app = app
        self.engine_getter = engine_getter
        self.clock_getter = clock_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        trace_id = trace_id_from(headers.get("traceparent")) or secrets.token_hex(16)
        state = scope.setdefault("state", {})
        state["trace_id"] = trace_id
        method = scope["method"].upper()
        if method not in STATE_CHANGING or scope.get("path") in NOT_AUDITED:
            await self.app(scope, receive, self._tagging(send, trace_id))
            return

        captured: list[bytes] = []
        size = 0
        written = False

        async def receive_wrapper() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= MAX_BODY_CAPTURE:
                    captured.append(chunk)
            return message

        async def audit(status_code: int) -> None:
            nonlocal written
            written = True
            target: dict[str, Any] = {}
            query = scope.get("query_string", b"").decode("latin-1")
            if query:
                target["query"] = dict(parse_qsl(query))
            if size > MAX_BODY_CAPTURE:
                target["body"] = {"bytes": size}
            elif (summary := _summarise_body(b"".join(captured), headers.get("content-type", ""))):
                target["body"] = summary
            if isinstance(state.get("audit_target"), dict):
                target.update(service.redact(state["audit_target"]))
            record = {
                "actor": state.get("audit_actor") or "anonymous", "method": method,
                "path": scope.get("path", ""), "status_code": status_code, "target": target,
                "trace_id": trace_id,
            }
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._write, record)

        tagging = self._tagging(send, trace_id)

        async def send_wrapper(message: Message) -> None:
            # Write before the client sees the status: a response means its audit record exists.
            if message["type"] == "http.response.start" and not written:
                await audit(int(message["status"]))
            await tagging(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            if not written:  # the app raised before answering; the outer handler sends a 500
                await audit(500)

    @staticmethod
    def _tagging(send: Send, trace_id: str) -> Send:
        async def tagging(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-trace-id", trace_id.encode())]
            await send(message)

        return tagging

    def _write(self, record: dict[str, Any]) -> None:
        try:
            with session_scope(self.engine_getter()) as session:
                service.record_audit(session=session, clock=self.clock_getter(), **record)
        except Exception:  # the audit trail must never turn a served request into a crash
            log.exception("could not write audit record for %s %s", record["method"], record["path"])
