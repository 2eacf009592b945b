"""Byte encoding of sample chunks: delta-coded integers in the narrowest dtype, else raw floats.

Why not zlib: decoding must run at memory speed (a 1,000-series, 30-day query decodes
43 M samples). Scrape timestamps are near-regular and counters move by integers, so
deltas fit in 1-4 bytes and decode with one `np.cumsum`; anything else stays float64.
"""

from __future__ import annotations

import struct

import numpy as np

_HEAD = struct.Struct("<IB")  # sample count, number of value columns
_INT_TYPES: tuple[type[np.signedinteger], ...] = (np.int8, np.int16, np.int32, np.int64)
_RAW, _CONST = 0, 5  # column kinds; 1..4 are integer deltas of _INT_TYPES[kind - 1]
_EXACT = 2.0 ** 52


def _encode_ints(first: int, deltas: np.ndarray) -> bytes:
    """First value plus deltas in the narrowest dtype (or one delta when all are equal)."""
    if len(deltas) and (deltas == deltas[0]).all():
        return struct.pack("<Bqq", _CONST, first, int(deltas[0]))
    lo, hi = (int(deltas.min()), int(deltas.max())) if len(deltas) else (0, 0)
    for kind, dtype in enumerate(_INT_TYPES, start=1):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return struct.pack("<Bq", kind, first) + deltas.astype(dtype).tobytes()
    raise AssertionError("int64 deltas always fit")  # pragma: no cover


def _decode_ints(buf: memoryview, pos: int, n: int) -> tuple[np.ndarray, int]:
    kind, first = struct.unpack_from("<Bq", buf, pos)
    pos += 9
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out, pos + (8 if kind == _CONST else 0)
    out[0] = first
    if kind == _CONST:
        (delta,) = struct.unpack_from("<q", buf, pos)
        out[1:] = delta
        return np.cumsum(out, out=out), pos + 8
    dtype = _INT_TYPES[kind - 1]
    size = (n - 1) * np.dtype(dtype).itemsize
    out[1:] = np.frombuffer(buf, dtype=dtype, count=n - 1, offset=pos)
    return np.cumsum(out, out=out), pos + size


def encode(ts_ms: np.ndarray, *columns: np.ndarray) -> bytes:
    """Timestamps (int64 ms, sorted) and float columns of equal length -> bytes."""
    n = len(ts_ms)
    parts = [_HEAD.pack(n, len(columns))]
    ts = ts_ms.astype(np.int64, copy=False)
    parts.append(_encode_ints(int(ts[0]) if n else 0, np.diff(ts)))
    for col in columns:
        col = col.astype(np.float64, copy=False)
        if n and np.isfinite(col).all() and (np.abs(col) < _EXACT).all() and (col == np.floor(col)).all():
            ints = col.astype(np.int64)
            parts.append(_encode_ints(int(ints[0]), np.diff(ints)))
        else:
            parts.append(struct.pack("<B", _RAW) + col.tobytes())
    return b"".join(parts)


def decode(blob: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
    """Inverse of `encode`: (timestamps int64 ms, [float64 columns])."""
    buf = memoryview(blob)
    n, ncols = _HEAD.unpack_from(buf, 0)
    ts, pos = _decode_ints(buf, _HEAD.size, n)
    cols = []
    for _ in range(ncols):
        if buf[pos] == _RAW:
            cols.append(np.frombuffer(buf, dtype=np.float64, count=n, offset=pos + 1).copy())
            pos += 1 + 8 * n
        else:
            ints, pos = _decode_ints(buf, pos, n)
            cols.append(ints.astype(np.float64))
    return ts, cols
