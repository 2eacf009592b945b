"""Byte sizes as people write them (`64MB`, `400TB`, `2PB`), decimal as storage vendors use."""

from __future__ import annotations

import re

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]I?B|B)?\s*$", re.IGNORECASE)


def parse_size(value: str | int | float) -> int:
    """Bytes in a size such as `400TB` or `64MiB`; a bare number means bytes."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or text like 400TB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"cannot read size {value!r}: write it like 64MB, 400TB or 2PB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])
