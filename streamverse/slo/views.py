"""`GET /slo` and `GET /slo/{id}`: SLO status for dashboards and scripts (viewer role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import State

from streamverse.api.deps import ClockDep, ViewerDep
from streamverse.metricstore import MetricStore
from streamverse.slo.status_cache import StatusCache

router = APIRouter(prefix="/slo", tags=["slo"])

# Every dashboard page asks for the same status; computing it is the costly part of a page
# (most of a second on 30 days of data). One StatusCache per app serves it from memory and
# refreshes it in the background, so tests with their own stores and clocks stay apart.
STATUS_TTL_S = 10.0
STATUS_MAX_STALE_S = 120.0  # older than this (nobody asked for two minutes): compute before answering


def _slos_and_store(state: State) -> tuple[list[Any], MetricStore]:
    """The app's SLO set (app.state.slo_files, shipped defaults otherwise) and its one metric store."""
    from streamverse.slo.loader import default_slo_file, load_files

    files = getattr(state, "slo_files", None) or [default_slo_file()]
    return load_files(files).slos, state.metric_store


def _status_cache(state: Any) -> StatusCache:
    cache = getattr(state, "slo_status_cache", None)
    if cache is None:

        def compute(now: float) -> dict[str, Any]:
            from streamverse.output import _clean
            from streamverse.slo.service import status

            slos, store = _slos_and_store(state)
            return _clean(status(slos, store, now=now))

        cache = state.slo_status_cache = StatusCache(
            compute, ttl_s=STATUS_TTL_S, max_stale_s=STATUS_MAX_STALE_S
        )
    return cache


@router.get("", summary="Every SLO with SLI, error budget, burn rates and alert state now")
def list_slos(request: Request, _: ViewerDep, clock: ClockDep) -> dict[str, Any]:
    """Status of every SLO (aggregate and per slice), at most a few seconds old; `at` says when."""
    return _status_cache(request.app.state).get(clock.now(), clock.now)


@router.get("/{slo_id}", summary="One SLO's status, every slice")
def get_slo(slo_id: str, request: Request, _: ViewerDep, clock: ClockDep) -> dict[str, Any]:
    """Status of one SLO by id (service-name); 404 when there is no such SLO."""
    from streamverse.output import _clean
    from streamverse.slo.service import status

    slos, store = _slos_and_store(request.app.state)
    match = [s for s in slos if s.id == slo_id]
    if not match:
        raise HTTPException(404, detail=f"no SLO {slo_id!r}; GET /api/v1/slo lists them")
    return _clean(status(match, store, now=clock.now()))


HISTORY_TTL_S = 60.0


@router.get("/{slo_id}/history", summary="One SLO over its period: SLI per hour and the budget burn-down")
def get_slo_history(slo_id: str, request: Request, _: ViewerDep, clock: ClockDep) -> dict[str, Any]:
    """SLI per hour against the objective and budget left so far (aggregate), at most a minute old."""
    from streamverse.slo.history import history

    state = request.app.state
    slos, store = _slos_and_store(state)
    match = [s for s in slos if s.id == slo_id]
    if not match:
        raise HTTPException(404, detail=f"no SLO {slo_id!r}; GET /api/v1/slo lists them")
    caches: dict[str, StatusCache] = state.__dict__.setdefault("slo_history_caches", {})
    cache = caches.get(slo_id)
    if cache is None:
        slo = match[0]
        cache = caches[slo_id] = StatusCache(
            lambda now: history(slo, store, now=now), ttl_s=HISTORY_TTL_S, max_stale_s=STATUS_MAX_STALE_S
        )
    return cache.get(clock.now(), clock.now)
