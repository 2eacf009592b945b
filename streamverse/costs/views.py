"""Cost routes: the month's summary and the capacity plan (viewer); the cost check (responder)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from streamverse.api.deps import ResponderDep, SessionDep, StoreDep, ViewerDep, get_clock

router = APIRouter(prefix="/costs", tags=["costs"])


def _topology_and_prices(request: Request) -> tuple[Any, Any]:
    from streamverse.costs.catalog import load_prices
    from streamverse.platform.topology import load_topology

    settings = request.app.state.settings
    topology = load_topology(settings.topology_file)
    return topology, load_prices(settings.prices_file, regions=[r.name for r in topology.regions])


@router.get("/summary", summary="A month's spend: breakdown, unit costs, forecast and budgets")
def summary(
    request: Request,
    store: StoreDep,
    _: ViewerDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC)")],
) -> dict[str, Any]:
    """The cost report's data for one month (no charts)."""
    from streamverse.costs.catalog import load_budgets
    from streamverse.costs.report import build_report

    topology, catalog = _topology_and_prices(request)
    return build_report(
        store=store,
        catalog=catalog,
        budgets=load_budgets(request.app.state.settings.budgets_file),
        topology=topology,
        month=month,
        now=get_clock(request).now(),
    )


@router.post("/check", summary="Check budgets and spend spikes now and report them as alerts (responder)")
def check(request: Request, session: SessionDep, store: StoreDep, _: ResponderDep) -> dict[str, Any]:
    """What the live loop does every few minutes: findings go to the alerts area (GET /alerts shows them)."""
    from streamverse.costs.catalog import load_budgets
    from streamverse.costs.flows import run_cost_check

    settings = request.app.state.settings
    _, catalog = _topology_and_prices(request)
    return run_cost_check(
        session=session,
        store=store,
        catalog=catalog,
        budgets=load_budgets(settings.budgets_file),
        now=get_clock(request).now(),
    )


@router.get("/capacity", summary="Capacity and cost plan from the given inputs, every step shown")
def capacity(
    request: Request,
    _: ViewerDep,
    users: Annotated[int | None, Query(ge=0)] = None,
    uploads_per_day: Annotated[int | None, Query(ge=0)] = None,
    peak_concurrency_share: Annotated[float | None, Query(ge=0, le=1)] = None,
    viewing_hours_per_user_per_day: Annotated[float | None, Query(ge=0)] = None,
    avg_duration_min: Annotated[float | None, Query(ge=0)] = None,
    replication: Annotated[float | None, Query(ge=0)] = None,
    retention_days: Annotated[float | None, Query(ge=0)] = None,
    cache_hit_ratio: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> dict[str, Any]:
    """`streamverse capacity plan --json` over HTTP."""
    from streamverse.costs.capacity import plan_capacity

    topology, catalog = _topology_and_prices(request)
    given = {
        "users": users,
        "uploads_per_day": uploads_per_day,
        "peak_concurrency_share": peak_concurrency_share,
        "viewing_hours_per_user_per_day": viewing_hours_per_user_per_day,
        "avg_duration_min": avg_duration_min,
        "replication": replication,
        "retention_days": retention_days,
        "cache_hit_ratio": cache_hit_ratio,
    }
    return plan_capacity(
        catalog=catalog,
        region_shares={r.name: r.users_share for r in topology.regions},
        overrides={k: float(v) for k, v in given.items() if v is not None},
    )
