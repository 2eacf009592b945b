"""`GET /slo` and `GET /slo/{id}`: SLO status for dashboards and scripts (viewer role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from streamverse.api.deps import ClockDep, ViewerDep

router = APIRouter(prefix="/slo", tags=["slo"])

# Every dashboard tile asks for the same status; computing it is the costly part of a page
# (hundreds of ms on 30 days of data). Metrics arrive every few seconds, so a 10 s answer
# is as fresh as what it reads. Keyed per app, so tests with their own stores stay apart.
STATUS_TTL_S = 10.0
_status_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def _slos_and_store(request: Request) -> tuple[list[Any], Any]:
    """The app's SLO set (app.state.slo_files, shipped defaults otherwise) and its metric store."""
    from streamverse.collectors.service import make_store
    from streamverse.settings import Settings
    from streamverse.slo.loader import default_slo_file, load_files

    state = request.app.state
    files = getattr(state, "slo_files", None) or [default_slo_file()]
    store = getattr(state, "metric_store", None)
    if store is None:
        settings = getattr(state, "settings", None) or Settings()
        store = make_store(settings)
    return load_files(files).slos, store


@router.get("", summary="Every SLO with SLI, error budget, burn rates and alert state now")
def list_slos(request: Request, _: ViewerDep, clock: ClockDep) -> dict[str, Any]:
    """Status of every SLO (aggregate and per slice)."""
    from streamverse.output import _clean
    from streamverse.slo.service import status

    now = clock.now()
    key = id(request.app)
    hit = _status_cache.get(key)
    if hit is not None and 0 <= now - hit[0] < STATUS_TTL_S:
        return hit[1]
    slos, store = _slos_and_store(request)
    answer = _clean(status(slos, store, now=now))
    _status_cache[key] = (now, answer)
    return answer


@router.get("/{slo_id}", summary="One SLO's status, every slice")
def get_slo(slo_id: str, request: Request, _: ViewerDep, clock: ClockDep) -> dict[str, Any]:
    """Status of one SLO by id (service-name); 404 when there is no such SLO."""
    from streamverse.output import _clean
    from streamverse.slo.service import status

    slos, store = _slos_and_store(request)
    match = [s for s in slos if s.id == slo_id]
    if not match:
        raise HTTPException(404, detail=f"no SLO {slo_id!r}; GET /api/v1/slo lists them")
    return _clean(status(match, store, now=clock.now()))
