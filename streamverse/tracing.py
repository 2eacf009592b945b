"""W3C Trace Context: continue the caller's trace, start one when there is none, pass it on.

Every service runs `TraceMiddleware`, so a request keeps one trace id from the gateway to
the upstream that answers it, and every JSON log line written while serving it carries
that id (jsonlog reads the contextvar set here).
"""

from __future__ import annotations

import contextvars
import random
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACEPARENT = "traceparent"
_PATTERN = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# Ids need uniqueness, not secrecy; the module generator is reseeded after fork.
_getrandbits = random.getrandbits


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One span's place in a trace: the trace, this span, the caller's span, sampled flag."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        """This span as a `traceparent` header value, for calls it makes downstream."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "streamverse_trace", default=None)


def new_trace_id() -> str:
    """A random non-zero 128-bit trace id in lowercase hex."""
    while True:
        value = _getrandbits(128)
        if value:
            return f"{value:032x}"


def new_span_id() -> str:
    """A random non-zero 64-bit span id in lowercase hex."""
    while True:
        value = _getrandbits(64)
        if value:
            return f"{value:016x}"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_id, flags) of a valid version-00 header, else None (all-zero ids refused)."""
    if not value:
        return None
    match = _PATTERN.match(value.strip())
    if match is None:
        return None
    trace_id, parent_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def continue_or_start(header: str | None) -> TraceContext:
    """A child span of the incoming trace, or the root of a new one if the header is bad or absent."""
    parsed = parse_traceparent(header)
    if parsed is None:
        return TraceContext(new_trace_id(), new_span_id())
    trace_id, parent_id, flags = parsed
    return TraceContext(trace_id, new_span_id(), parent_id, flags)


def current_trace_id() -> str | None:
    """The trace id of the request being served, for logs."""
    ctx = current_trace.get()
    return ctx.trace_id if ctx else None


def outgoing_headers(ctx: TraceContext | None = None) -> dict[str, str]:
    """Headers that carry the current (or given) span to a downstream call."""
    ctx = ctx or current_trace.get()
    return {TRACEPARENT: ctx.traceparent} if ctx else {}


class TraceMiddleware:
    """Pure ASGI middleware: sets the trace contextvar and answers with `traceresponse`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                header = value.decode("latin-1")
                break
        ctx = continue_or_start(header)
        token = current_trace.set(ctx)
        scope.setdefault("state", {})["trace"] = ctx
        response_header = ctx.traceparent.encode()

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"traceresponse", response_header))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            current_trace.reset(token)
