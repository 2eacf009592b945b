"""The files `streamverse up` leaves in its data dir, so other commands find the running system.

`live.json` names its URLs (and the pid that wrote it); `live_tokens.json` holds one API
token per role. `system` writes them; the CLI, the drills and the platform control client
read them here, so every reader agrees on names and on what a missing or broken file means.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LIVE_FILE = "live.json"
TOKENS_FILE = "live_tokens.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_live(data_dir: Path) -> dict[str, Any]:
    """What the running system wrote about itself (URLs, pid), or {} when nothing runs here."""
    return _read(Path(data_dir) / LIVE_FILE)


def read_tokens(data_dir: Path) -> dict[str, str]:
    """The tokens per role that `streamverse up` made in this data dir ({} when none)."""
    return {k: v for k, v in _read(Path(data_dir) / TOKENS_FILE).items() if isinstance(v, str)}
