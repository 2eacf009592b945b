"""A live system on its own loop thread, with telemetry options, for the collector tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from streamverse.settings import Settings
from streamverse.system.live import start_live_system
from streamverse.system.live_system import LiveSystem


class Live:
    """start_live_system on a background loop; `call` runs coroutines there."""

    def __init__(self, tmp_path: Path, *, viewers: int = 2, **kw: Any) -> None:
        self.settings = Settings(
            data_dir=tmp_path / "data",
            base_port=0,
            jwt_secret="live-test-" + "x" * 32,
            live_cache_bytes=16 * 1024 * 1024,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        try:
            self.system: LiveSystem = self.call(
                start_live_system(
                    self.settings, viewers=viewers, health_interval_s=0.5, watch_s=(4.0, 8.0), **kw
                ),
                timeout=90,
            )
        except BaseException:
            self._close_loop()
            raise

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the system's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _close_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def stop(self) -> None:
        """Stop the system and the loop."""
        try:
            self.call(self.system.stop(), timeout=60)
        finally:
            self._close_loop()
