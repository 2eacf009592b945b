"""Durations as people write them (`90s`, `15m`, `2h`, `30d`), the same everywhere."""

from __future__ import annotations

import re

from streamverse.errors import UsageError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `90s`, `1h30m` or `30d`; a bare number means seconds."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty duration: write it like 90s, 15m, 2h or 30d")
    try:
        value = float(raw)
    except ValueError:
        pos, total = 0, 0.0
        for match in _PART.finditer(raw):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(raw) or pos == 0:
            raise UsageError(
                f"cannot read duration {text!r}: write it like 90s, 15m, 2h or 30d"
            ) from None
        return total
    if value < 0:
        raise UsageError(f"duration {text!r} is negative")
    return value


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for messages and rule names."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
