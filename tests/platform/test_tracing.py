"""W3C traceparent parsing, continuation, and the JSON log lines that carry the trace id."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from streamverse.jsonlog import JsonFormatter, hash_user_id, setup_logging, truncate_ip
from streamverse.tracing import (
    TraceMiddleware,
    continue_or_start,
    current_trace,
    current_trace_id,
    new_span_id,
    new_trace_id,
    outgoing_headers,
    parse_traceparent,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("header", [
    None, "", "garbage", VALID.upper(), VALID.replace("00-", "01-", 1), VALID.replace("00-", "ff-", 1),
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    VALID + "-extra",
])
def test_invalid_traceparent_rejected_and_new_trace_started(header):
    assert parse_traceparent(header) is None
    ctx = continue_or_start(header)
    assert ctx.parent_id is None
    assert len(ctx.trace_id) == 32 and ctx.trace_id != "0" * 32
    assert ctx.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_valid_traceparent_continued_with_new_span():
    assert parse_traceparent(VALID) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    ctx = continue_or_start(VALID)
    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.parent_id == "00f067aa0ba902b7"
    assert ctx.span_id != ctx.parent_id and len(ctx.span_id) == 16
    assert parse_traceparent(ctx.traceparent) == (ctx.trace_id, ctx.span_id, "01")
    assert outgoing_headers(ctx) == {"traceparent": ctx.traceparent}


def test_ids_are_random_and_well_formed():
    ids = {new_trace_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(s) == 16 and int(s, 16) for s in (new_span_id() for _ in range(100)))


def test_middleware_sets_contextvar_and_answers_traceresponse():
    app = FastAPI()
    app.add_middleware(TraceMiddleware)

    @app.get("/t")
    async def t() -> dict:
        return {"trace_id": current_trace_id(), "headers": outgoing_headers()}

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            continued = await client.get("/t", headers={"traceparent": VALID})
            fresh = await client.get("/t")
        return continued, fresh

    import asyncio

    continued, fresh = asyncio.run(go())
    assert continued.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    resp_parent = parse_traceparent(continued.headers["traceresponse"])
    assert resp_parent is not None and resp_parent[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert continued.json()["headers"]["traceparent"] == continued.headers["traceresponse"]
    assert fresh.json()["trace_id"] and fresh.json()["trace_id"] != continued.json()["trace_id"]
    assert current_trace.get() is None  # reset after the request


def test_json_log_line_has_trace_id_and_extras():
    stream = io.StringIO()
    handler = setup_logging("gateway", "DEBUG", stream=stream)
    try:
        token = current_trace.set(continue_or_start(VALID))
        try:
            logging.getLogger("streamverse.test").info("hello %s", "world", extra={"route": "/x"})
        finally:
            current_trace.reset(token)
        logging.getLogger("streamverse.test").warning("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["service"] == "gateway"
    assert first["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first["route"] == "/x" and first["level"] == "info" and first["ts"].endswith("Z")
    assert "trace_id" not in second and second["level"] == "warning"
    assert isinstance(JsonFormatter("x").format(logging.makeLogRecord({"msg": "m"})), str)


def test_personal_data_helpers():
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_ip("nope") == "invalid"
    assert hash_user_id(42) == hash_user_id("42") != hash_user_id(43)
    assert hash_user_id(42).startswith("u_") and len(hash_user_id(42)) == 18
