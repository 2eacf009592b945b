"""Fast-forward's viewers as parallel arrays in fixed slots, and the sampling of new ones.

A finished viewer's slot is handed to the next arrival, and the arrays are compacted only
when under `COMPACT_BELOW` of the slots are live, so a step does not copy twenty arrays to
drop a few thousand rows. Dead slots ride along masked out (`alive`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from streamverse.platform import abr, audience

COMPACT_BELOW = 0.75  # compact the slot arrays when fewer of them than this hold live sessions


@dataclass(eq=False)
class SessionSlots:
    """Session state, one element per slot in every array; `alive` marks the used slots."""

    alive: np.ndarray  # bool: the slot holds a session
    region: np.ndarray  # viewer region index
    pop: np.ndarray  # PoP index, -1 when DNS gave none
    row: np.ndarray  # catalogue row of the title
    rend: np.ndarray  # current rendition (ladder index)
    maxr: np.ndarray  # highest rendition device and title allow
    pos: np.ndarray  # seconds played
    buf: np.ndarray  # seconds buffered
    fast: np.ndarray  # ABR bandwidth estimator state (fast EWMA, slow EWMA, weight)
    slow: np.ndarray
    wt: np.ndarray
    bw: np.ndarray  # the viewer's access bandwidth, bit/s
    watch: np.ndarray  # seconds the viewer will watch
    starting: np.ndarray  # bool: not yet past the first frame
    fails: np.ndarray  # consecutive failing steps
    resolved_at: np.ndarray  # when the PoP was last resolved
    obj: np.ndarray  # chunk object open, -1 for none
    obj_pop: np.ndarray  # the PoP it was opened on
    lat: np.ndarray  # request latency, ms
    need: np.ndarray  # bool: asks GeoDNS for a PoP this step

    def __len__(self) -> int:
        return len(self.region)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the slots `mask` leaves out (compaction)."""
        for name in FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def place(self, new: SessionSlots) -> None:
        """Put new sessions into free slots, growing the arrays when there are too few."""
        free = np.flatnonzero(~self.alive)
        n = len(new)
        if len(free) < n:
            grow = max(n - len(free), len(self) // 8)
            pad = {name: np.zeros(grow, dtype=getattr(self, name).dtype) for name in FIELDS}
            for name in FIELDS:
                setattr(self, name, np.concatenate([getattr(self, name), pad[name]]))
            free = np.flatnonzero(~self.alive)
        slots = free[:n]
        for name in FIELDS:
            getattr(self, name)[slots] = getattr(new, name)

    def admit(self, new: SessionSlots) -> None:
        """Place arrivals, compacting first when the slots have become sparse."""
        if len(self) and (self.alive.sum() + len(new)) < COMPACT_BELOW * len(self):
            self.keep(self.alive)
        self.place(new)


FIELDS = tuple(f.name for f in fields(SessionSlots))


def sample_sessions(rng: np.random.Generator, sampler: audience.PopularitySampler,
                    catalog: dict[str, np.ndarray], region: np.ndarray, *, steady: bool) -> SessionSlots:
    """Fresh viewers in `region`: title by popularity, device, bandwidth, watch time.

    `steady` viewers are already watching: somewhere in their session, ABR settled.
    """
    n = len(region)
    rows = sampler.sample(rng, n)
    dev = audience.sample_devices(rng, n)
    bw = audience.sample_bandwidth(rng, dev)
    watch = audience.sample_watch_s(rng, catalog["duration_s"][rows])
    maxr = np.minimum(audience.DEVICE_MAX_RUNG[dev], catalog["max_ladder_index"][rows])
    z = np.zeros(n)
    pos, buf, rend, starting = z.copy(), z.copy(), np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    fast, slow, wt = z.copy(), z.copy(), z.copy()
    if steady:
        pos = rng.random(n) * watch * 0.95
        buf = rng.uniform(10.0, abr.MAX_BUFFER_S, n)
        rend = abr.highest_rung(bw * abr.UP_FACTOR, maxr)
        starting[:] = False
        fast, slow, wt = bw.copy(), bw.copy(), np.full(n, 60.0)
    return SessionSlots(alive=np.ones(n, dtype=bool), region=region.astype(np.int64), pop=np.full(n, -1),
                        row=rows, rend=rend, maxr=maxr, pos=pos, buf=buf, fast=fast, slow=slow, wt=wt,
                        bw=bw, watch=watch, starting=starting, fails=np.zeros(n, dtype=np.int64),
                        resolved_at=z.copy(), obj=np.full(n, -1), obj_pop=np.full(n, -1), lat=z.copy(),
                        need=np.ones(n, dtype=bool))
