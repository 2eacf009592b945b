"""Fast-forward's cache objects: chunks of a rendition, and when the real CDN is asked about them.

- Cache objects are chunks of `object_s` seconds (default 600 s = 100 segments) of one
  rendition, not single segments: 100,000 sessions would ask ~80,000 distinct segments
  per step, far more Python-level `CDN.fetch` calls than 60 s allow. Requests for the same
  (PoP, chunk) in one step are aggregated with numpy and the CDN is consulted once; its
  answer is applied with multiplicity. A CDN miss on a chunk costs that chunk's segments
  as misses once (its fill, whoever the represented viewers are), plus the requests of
  the other modelled sessions that opened the same cold chunk in the same step (a
  thundering herd: a synchronised audience, as a viral title brings, misses together;
  the viewers one modelled session stands for are assumed spread out). Every other
  request is a hit, unless the PoP's probe shows the edge is not holding objects
  (edge-cache-failure): then all its requests miss. Continuing sessions see PoP-wide
  errors and latency through per-PoP probes.
- A (PoP, chunk) the CDN served without error is remembered (numpy bit array) until the
  fault effects change or the PoP has taken in a quarter of its cache since (eviction
  becomes possible), so the CDN is consulted for what could change: misses and faults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamverse.platform.catalog import LADDER, SEGMENT_SECONDS
from streamverse.platform.cdn import CDN, FetchResult
from streamverse.platform.fastforward_sessions import SessionSlots
from streamverse.platform.faults import Effects


class ChunkCache:
    """The chunk objects of a catalogue on the platform's CDN, the memo of answers, and fill bytes."""

    def __init__(self, *, cdn: CDN, pops: list[str], regions: list[str], catalog: dict[str, np.ndarray],
                 object_s: float, rtt: np.ndarray, cache_bytes: np.ndarray) -> None:
        self.cdn, self.pops, self.regions, self.catalog = cdn, pops, regions, catalog
        self.object_s = float(object_s)
        self.video_ids: list[int] = catalog["video_id"].tolist()
        self.row_of_video = {int(v): i for i, v in enumerate(self.video_ids)}
        self.rtt = rtt  # client region x PoP, ms
        R, P = rtt.shape
        # Client region x (PoP or "none") flattened: one gather per step with the engine's `rp` index.
        self.rtt_rp = np.concatenate([rtt, np.zeros((R, 1))], axis=1).ravel()
        self.n_parts = int(math.ceil(catalog["duration_s"].max() / self.object_s))
        self.n_obj = len(self.video_ids) * len(LADDER) * self.n_parts
        self.memo = np.zeros((P, self.n_obj), dtype=bool)
        self.memo_bytes = np.zeros(P)
        self.memo_budget = cache_bytes / 4
        self.edge_extra_ms = np.full(P, 2.0)
        self._sizes = [int(rung[3] * self.object_s / 8) for rung in LADDER]
        self.fill_r, self.fill_p = np.zeros(R), np.zeros(P)  # chunk fills this step, in segments
        self.broken = np.zeros(P, dtype=bool)  # probe says the edge does not hold objects
        self.herd = np.zeros(0, dtype=bool)  # per slot: opened a chunk another session is filling
        self.fetches = 0
        # Cost usage (fastforward_usage.py): bytes past the edge per PoP (fills and forced misses,
        # represented) and bytes origins sent per origin.
        self.fill_bytes_p = np.zeros(P)
        self.origin_fill_bytes: dict[str, float] = {}

    # -- objects ---------------------------------------------------------------------------
    def obj_index(self, row: Any, rend: Any, part: Any) -> Any:
        """The dense index of a (title, rendition, chunk) object (scalars or arrays)."""
        return (row * len(LADDER) + rend) * self.n_parts + part

    def key(self, video_id: int, rend: int, part: int) -> str:
        """Cache key of one chunk."""
        return f"videos/{video_id}/{LADDER[rend][0]}/chunk_{part:04d}"

    def size(self, rend: int) -> int:
        """Bytes in one chunk of a rendition."""
        return self._sizes[rend]

    def video_objects(self, video_id: int) -> list[tuple[str, int]]:
        """(key, size) of every chunk of a title's renditions: what a pre-warm of that video copies."""
        row = self.row_of_video.get(int(video_id))
        if row is None:  # the control app answers 404 for a video without objects
            return []
        parts = int(math.ceil(self.catalog["duration_s"][row] / self.object_s))
        return [(self.key(int(video_id), rend, part), self.size(rend))
                for rend in range(int(self.catalog["max_ladder_index"][row]) + 1) for part in range(parts)]

    def prewarm(self, head: int) -> None:
        """Put the first `head` titles (the popular ones) in every cache, and remember them there."""
        items, objs = [], []
        for row in range(head):
            vid = self.video_ids[row]
            parts = int(math.ceil(self.catalog["duration_s"][row] / self.object_s))
            for rend in range(int(self.catalog["max_ladder_index"][row]) + 1):
                for part in range(parts):
                    items.append((self.key(vid, rend, part), self.size(rend)))
                    objs.append(self.obj_index(row, rend, part))
        self.cdn.prewarm(items)
        self.memo[:, np.array(objs)] = True

    def forget(self) -> None:
        """Fault edges: what the caches answered before no longer holds."""
        self.memo[:] = False
        self.memo_bytes[:] = 0

    # -- one step --------------------------------------------------------------------------
    def open_chunks(self, S: SessionSlots, idx: np.ndarray, obj: np.ndarray, rp: np.ndarray,
                    code: np.ndarray, ok: np.ndarray, disabled: set[str]) -> None:
        """Sessions `idx` open `obj`: memo hits are edge hits, the rest ask the CDN once per (PoP, chunk).

        Sets their latency, fails them on CDN errors (`ok`, `code`) and marks the herd.
        """
        self.herd = np.zeros(len(S), dtype=bool)
        if not len(idx):
            return
        pops, objs = S.pop[idx], obj[idx]
        known = self.memo[pops, objs]
        hit = idx[known]
        S.lat[hit] = self.rtt_rp[rp[hit]] + self.edge_extra_ms[S.pop[hit]]
        miss = idx[~known]
        if len(miss):
            pair = S.pop[miss] * self.n_obj + objs[~known]
            uniq, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
            n = len(uniq)
            status, srv, tier_edge = [0] * n, [0.0] * n, [False] * n
            fetch, pop_names, regions, key, sizes = (self.cdn.fetch, self.pops, self.regions,
                                                     self.key, self._sizes)
            per_row, n_parts, vids, memo, rtt = len(LADDER) * self.n_parts, self.n_parts, self.video_ids, \
                self.memo, self.rtt
            chunk_segs = self.object_s / SEGMENT_SECONDS
            firsts = miss[first]
            for j, (p, o, r) in enumerate(zip(S.pop[firsts].tolist(), objs[~known][first].tolist(),
                                              S.region[firsts].tolist(), strict=True)):
                row, rest = divmod(o, per_row)
                rend, prt = divmod(rest, n_parts)
                res = fetch(pop_names[p], key(vids[row], rend, prt), size=sizes[rend],
                            client_region=regions[r])
                status[j] = res.status
                srv[j] = res.latency_ms
                if res.status < 400:
                    if res.tier == "edge":
                        tier_edge[j] = True
                        self.edge_extra_ms[p] = max(0.0, res.latency_ms - rtt[r, p])
                    else:  # a fill: the chunk's segments come through this PoP once
                        self.fill_r[r] += chunk_segs
                        self.fill_p[p] += chunk_segs
                        if pop_names[p] not in disabled:  # a cacheless edge is metered in _play
                            self._count_fill(p, res)
                    if p not in disabled:
                        memo[p, o] = True
                        if not tier_edge[j]:
                            self.memo_bytes[p] += res.size
            self.fetches += n
            st = np.array(status)
            S.lat[miss] = np.array(srv)[inverse]
            filled = (st < 400) & ~np.array(tier_edge)
            herd = filled[inverse]
            herd[first] = False  # the first opener's requests are the fill itself
            self.herd[miss[herd]] = True
            bad = st[inverse] >= 400
            ok[miss[bad]] = False
            code[miss] = st[inverse]
            over = self.memo_bytes > self.memo_budget  # eviction possible: ask again from now on
            if over.any():
                self.memo[over] = False
                self.memo_bytes[over] = 0
        good = idx[ok[idx]]
        S.obj[good], S.obj_pop[good] = obj[good], S.pop[good]

    def _count_fill(self, p: int, res: FetchResult) -> None:
        """Bytes one CDN fill moved: shield to edge always, origin to shield when the shield missed."""
        self.fill_bytes_p[p] += res.size
        if res.tier == "origin":
            origin = self.cdn.origin.active
            self.origin_fill_bytes[origin] = self.origin_fill_bytes.get(origin, 0.0) + res.size

    def probe(self, S: SessionSlots, cont: np.ndarray, rp: np.ndarray, code: np.ndarray, ok: np.ndarray,
              eff: Effects, rng: np.random.Generator) -> None:
        """Sessions inside a chunk: one probe per PoP shows PoP-wide errors and added latency."""
        P = len(self.pops)
        at = np.where(cont, S.pop, P)  # P: not continuing
        first_of = np.full(P + 1, -1)
        first_of[at[::-1]] = np.arange(len(at))[::-1]  # last write wins: the first session per PoP
        pops = np.flatnonzero(first_of[:P] >= 0)
        if not len(pops):
            return
        n_probe = 1 if eff.quiet else 4
        fail_share = np.zeros(P)
        self.broken[:] = False
        probe_code = np.full(P, 200)
        probe_lat = np.zeros(P)
        fetch = self.cdn.fetch
        per_row = len(LADDER) * self.n_parts
        for p in pops.tolist():
            s = int(first_of[p])
            row, rest = divmod(int(S.obj[s]), per_row)
            rend, prt = divmod(rest, self.n_parts)
            key = self.key(self.video_ids[row], rend, prt)
            r = int(S.region[s])
            fails, lat = 0, 0.0
            for _ in range(n_probe):
                res = fetch(self.pops[p], key, size=self._sizes[rend], client_region=self.regions[r])
                if res.status >= 400:
                    fails += 1
                    probe_code[p] = res.status
                elif res.tier != "edge":
                    self.broken[p] = True
                lat = max(lat, res.latency_ms - self.rtt[r, p])
            self.fetches += n_probe
            fail_share[p], probe_lat[p] = fails / n_probe, lat
        pop = np.maximum(S.pop, 0)
        if fail_share.any():
            idx = np.flatnonzero(cont)
            share = fail_share[pop[idx]]
            bad = idx[(share > 0) & (rng.random(len(idx)) < share)]
            ok[bad] = False
            code[bad] = probe_code[pop[bad]]
        S.lat = np.where(cont, self.rtt_rp[rp] + probe_lat[pop], S.lat)
