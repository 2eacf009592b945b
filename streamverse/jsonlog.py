"""JSON log lines for every service: one object per line, with the trace id of the request.

Logs are shipped and searched by machines, so each line is a JSON object with fixed keys
(ts, level, service, logger, message, trace_id) plus whatever `extra=` fields the caller
gave. Personal data never goes in raw: user ids are pseudonymised and IPs cut to a /24.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import sys
from datetime import UTC, datetime

from streamverse.tracing import current_trace

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_PSEUDONYM_SALT = b"streamverse-log-pseudonym-v1"


def hash_user_id(user_id: object) -> str:
    """A stable pseudonym for a user id: lines of one user correlate, the id stays out of logs."""
    return "u_" + hashlib.blake2b(str(user_id).encode(), key=_PSEUDONYM_SALT, digest_size=8).hexdigest()


def truncate_ip(ip: str | None) -> str | None:
    """The client network, not the client: IPv4 cut to /24, IPv6 to /48."""
    if not ip:
        return ip
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; the trace id comes from the request's contextvar."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON for the record."""
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = current_trace.get()
        trace_id = getattr(record, "trace_id", None) or (ctx.trace_id if ctx else None)
        if trace_id:
            line["trace_id"] = trace_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def setup_logging(service: str, level: str = "INFO", *, stream: object = None) -> logging.Handler:
    """Route the root logger (and uvicorn's) through one JSON handler; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    return handler
