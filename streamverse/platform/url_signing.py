"""Tokenised CDN paths: the playback service signs a video's path prefix, edges verify it.

The token lives in the path (`/t/{exp}/{sig}/videos/{id}/...`) rather than the query
string, so the relative segment URLs inside HLS playlists carry it without rewriting,
the way CDN path-token schemes work. Verification is one HMAC, cheap enough for the
edge's hot path.
"""

from __future__ import annotations

import hashlib
import hmac

TOKEN_ROOT = "/t/"


def _mac(key: bytes, exp: int, prefix: str) -> str:
    return hmac.new(key, f"{exp}:{prefix}".encode(), hashlib.sha256).hexdigest()[:32]


def sign_prefix(prefix: str, *, key: bytes, expires_at: int) -> str:
    """A path prefix like `/t/1700000000/ab12.../videos/42/` that grants access until expiry."""
    prefix = prefix.lstrip("/")
    return f"{TOKEN_ROOT}{expires_at}/{_mac(key, expires_at, prefix)}/{prefix}"


def verify_path(path: str, *, key: bytes, now: float, prefix_depth: int = 2) -> str | None:
    """The object key a signed path grants (e.g. `videos/42/720p/seg_00001.ts`), or None.

    The signature covers the first `prefix_depth` path components of the key
    (`videos/42/`), so one token grants one video's playlists and segments.
    """
    if not path.startswith(TOKEN_ROOT):
        return None
    parts = path[len(TOKEN_ROOT):].split("/", 2)
    if len(parts) != 3:
        return None
    exp_text, sig, key_path = parts
    if not exp_text.isdigit() or int(exp_text) < now or ".." in key_path:
        return None
    comps = key_path.split("/")
    if len(comps) <= prefix_depth:
        return None
    prefix = "/".join(comps[:prefix_depth]) + "/"
    if not hmac.compare_digest(sig, _mac(key, int(exp_text), prefix)):
        return None
    return key_path
