"""`GET /reports/cost`: the month's cost report as a download (HTML, PDF or JSON), viewer role."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from streamverse.api.deps import ClockDep, StoreDep, ViewerDep
from streamverse.slo.report_views import check_format, check_month

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/cost", summary="The month's cost report (html, pdf or json)")
def cost_report(request: Request, _: ViewerDep, clock: ClockDep, store: StoreDep, month: str,
                format: str = "html") -> Response:  # noqa: A002 - the query parameter users type
    """Breakdown, trend, forecast and savings, from metered usage and the price catalog."""
    from streamverse.costs.catalog import load_budgets, load_prices
    from streamverse.costs.report import build_report, render_html, render_pdf
    from streamverse.output import _clean
    from streamverse.platform.topology import load_topology

    check_month(month)
    check_format(format)
    settings = request.app.state.settings
    topology = load_topology(settings.topology_file)
    catalog = load_prices(None, regions=[r.name for r in topology.regions])
    data = build_report(store=store, catalog=catalog, budgets=load_budgets(None),
                        topology=topology, month=month, now=clock.now())
    name = f"cost-report-{month}.{format}"
    if format == "json":
        return JSONResponse(_clean(data))
    if format == "html":
        return HTMLResponse(render_html(data), headers={"Content-Disposition": f'inline; filename="{name}"'})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        render_pdf(data, path)
        body = path.read_bytes()
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
