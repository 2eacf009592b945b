"""Serving ASGI apps with uvicorn on loopback, many servers in one process: ports checked before start.

The live platform and the composition root both start servers this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from streamverse.errors import UsageError


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the runner (many servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    """One uvicorn server running as a task of this loop."""

    name: str
    url: str
    server: QuietServer
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Ask the server to finish its requests and close; wait for it."""
        self.server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, timeout=5)
        if not self.task.done():
            self.task.cancel()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. A busy port is a clear error, not a traceback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); another `streamverse up` "
                         "may be running. Set STREAMVERSE_BASE_PORT to another port, or 0 for free ports"
                         ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def free_port(host: str) -> int:
    """A port nothing listens on now (for servers that bind their own socket)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def serve(app: Any, *, name: str, host: str, port: int) -> Served:
    """Start `app` with uvicorn on host:port (0: a free port) and wait until it accepts."""
    sock = bind(host, port)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_keep_alive=30,
                            timeout_graceful_shutdown=2)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"serve-{name}")
    while not server.started:
        if task.done():
            sock.close()
            exc = task.exception() if not task.cancelled() else None
            raise RuntimeError(f"{name} failed to start: {exc!r}")
        await asyncio.sleep(0.005)
    bound = sock.getsockname()[1]
    return Served(name, f"http://{host}:{bound}", server, task)
