"""How commands print: rich for people, one JSON object as the last line for scripts."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing figures are null, never a made-up number."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def emit_json(data: Any) -> None:
    """Print one JSON object on one line, the contract for `--json`."""
    sys.stdout.write(json.dumps(_clean(data), separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> None:
    """Print an error for people on stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(code)
