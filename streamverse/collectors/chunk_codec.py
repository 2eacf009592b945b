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


def _ints_into(buf: memoryview, pos: int, n: int, out: np.ndarray) -> int:
    """Decode one integer column straight into `out` (int64, or float64: values below 2**52 stay exact)."""
    kind, first = struct.unpack_from("<Bq", buf, pos)
    pos += 9
    if kind == _CONST:
        (delta,) = struct.unpack_from("<q", buf, pos)
        if n:
            out[:] = np.arange(first, first + n * delta, delta) if delta else first
        return pos + 8
    if n == 0:
        return pos
    dtype = _INT_TYPES[kind - 1]
    # An integer running sum is several times faster than a float one, even with the conversion after.
    acc = out if out.dtype == np.int64 else np.empty(n, dtype=np.int64)
    acc[0] = first
    acc[1:] = np.frombuffer(buf, dtype=dtype, count=n - 1, offset=pos)
    np.cumsum(acc, out=acc)
    if acc is not out:
        out[:] = acc
    return pos + (n - 1) * np.dtype(dtype).itemsize


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


def count(blob: bytes) -> int:
    """Number of samples in an encoded chunk, without decoding it."""
    return int(_HEAD.unpack_from(blob, 0)[0])


def decode_into(blob: bytes, ts_out: np.ndarray, *cols_out: np.ndarray) -> None:
    """Decode into preallocated arrays (int64 ms, float64 columns), so many chunks fill one array."""
    buf = memoryview(blob)
    n, ncols = _HEAD.unpack_from(buf, 0)
    if len(cols_out) > ncols or len(ts_out) != n:
        raise ValueError(f"chunk has {n} samples x {ncols} columns")
    pos = _ints_into(buf, _HEAD.size, n, ts_out)
    for out in cols_out:
        if buf[pos] == _RAW:
            out[:] = np.frombuffer(buf, dtype=np.float64, count=n, offset=pos + 1)
            pos += 1 + 8 * n
        else:
            pos = _ints_into(buf, pos, n, out)


def decode(blob: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
    """Inverse of `encode`: (timestamps int64 ms, [float64 columns])."""
    n, ncols = _HEAD.unpack_from(blob, 0)
    ts = np.empty(n, dtype=np.int64)
    cols = [np.empty(n, dtype=np.float64) for _ in range(ncols)]
    decode_into(blob, ts, *cols)
    return ts, cols
